package wal

import "sync"

// tailCache keeps the payloads of the newest records in memory so that
// readers that are caught up never touch the disk. It holds a contiguous
// index range and at most max payload bytes; the oldest records leave first.
// The payload slices are the ones passed to Append (Append takes ownership),
// so caching costs no copy.
type tailCache struct {
	mu    sync.RWMutex
	max   int64
	ents  []cacheEntry // ents[start:] are live, in index order
	start int
	bytes int64
}

// cacheEntryOverhead is charged per record on top of its payload, so that
// the bound holds for many tiny records too.
const cacheEntryOverhead = 64

type cacheEntry struct {
	index  uint64
	offset int64
	size   int64
	data   []byte
}

func newTailCache(max int64) *tailCache { return &tailCache{max: max} }

// add appends e, which must follow the newest cached record. A record larger
// than the whole cache empties it, keeping the range contiguous.
func (c *tailCache) add(e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if int64(len(e.data))+cacheEntryOverhead > c.max {
		c.resetLocked()
		return
	}
	if n := len(c.ents); n > c.start && c.ents[n-1].index+1 != e.index {
		c.resetLocked()
	}
	c.ents = append(c.ents, e)
	c.bytes += int64(len(e.data)) + cacheEntryOverhead
	for c.bytes > c.max {
		c.popLocked()
	}
}

func (c *tailCache) popLocked() {
	c.bytes -= int64(len(c.ents[c.start].data)) + cacheEntryOverhead
	c.ents[c.start] = cacheEntry{}
	c.start++
	// Compact once the dead prefix dominates, so memory stays bounded.
	if c.start > 1024 && c.start > len(c.ents)/2 {
		n := copy(c.ents, c.ents[c.start:])
		clear(c.ents[n:])
		c.ents = c.ents[:n]
		c.start = 0
	}
}

func (c *tailCache) resetLocked() {
	c.ents, c.start, c.bytes = nil, 0, 0
}

// dropBefore forgets records with index < first (they were truncated).
func (c *tailCache) dropBefore(first uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.start < len(c.ents) && c.ents[c.start].index < first {
		c.popLocked()
	}
}

// read appends to out the cached records from index `from` on, up to `last`,
// stopping before maxBytes of payload would be exceeded (but taking at least
// one). It returns out unchanged if `from` is not cached.
func (c *tailCache) read(out []Entry, from, last uint64, maxBytes int) []Entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	live := c.ents[c.start:]
	if len(live) == 0 || from < live[0].index || from > live[len(live)-1].index {
		return out
	}
	budget := int64(maxBytes)
	for _, e := range live[from-live[0].index:] {
		if e.index > last {
			break
		}
		sz := int64(len(e.data))
		if len(out) > 0 && sz > budget {
			break
		}
		budget -= sz
		out = append(out, Entry{Index: e.index, Offset: e.offset, Size: e.size, Data: e.data, Cached: true})
	}
	return out
}

// lookup returns the cached record with the given index.
func (c *tailCache) lookup(index uint64) (cacheEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	live := c.ents[c.start:]
	if len(live) == 0 || index < live[0].index || index > live[len(live)-1].index {
		return cacheEntry{}, false
	}
	return live[index-live[0].index], true
}

// firstAtOffset returns the first cached record whose offset is >= off, if the
// cache reaches back at least to off.
func (c *tailCache) firstAtOffset(off int64) (cacheEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	live := c.ents[c.start:]
	if len(live) == 0 || off < live[0].offset || off > live[len(live)-1].offset {
		return cacheEntry{}, false
	}
	lo, hi := 0, len(live)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if live[mid].offset >= off {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return live[lo], true
}

// first returns the index of the oldest cached record, 0 if none.
func (c *tailCache) first() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.start == len(c.ents) {
		return 0
	}
	return c.ents[c.start].index
}

func (c *tailCache) size() (int, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.ents) - c.start, c.bytes
}
