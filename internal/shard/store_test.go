package shard_test

import (
	"testing"

	"github.com/influxgate/influxgate/internal/shard"
	"github.com/influxgate/influxgate/internal/shard/storetest"
)

func TestDirStore(t *testing.T) {
	dir := t.TempDir()
	storetest.Run(t, func(*testing.T) shard.Store { return shard.Dir(dir) })
}
