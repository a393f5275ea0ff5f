package config

import (
	"fmt"
	"strings"
)

// Rights is what a gateway user or token may do ([http.auth] "rights" of a
// user, "token-rights" of the tokens). influxgate checks them itself,
// before anything reaches a backend, because in gateway mode the backends
// see the output's credentials, not the client's.
type Rights uint8

// The rights, as the config names them.
const (
	// RightRead: /query reads (SELECT, SHOW ...), /api/v2/query, and the
	// statements InfluxDB lets a user with READ run.
	RightRead Rights = 1 << iota
	// RightWrite: /write, /api/v2/write, and the statements that need
	// InfluxDB's WRITE privilege (DELETE, DROP SERIES, SELECT ... INTO).
	RightWrite
	// RightAdmin: the statements that need InfluxDB's admin privilege —
	// CREATE/DROP DATABASE, retention policies, continuous queries, users,
	// GRANT/REVOKE, KILL QUERY, SHOW USERS/DIAGNOSTICS/STATS. As for an
	// InfluxDB admin, it includes read and write.
	RightAdmin
)

// DefaultRights is what a user or token whose config names no rights may
// do: read and write, no admin statements. It is the safe side for configs
// written before rights existed (when a gateway user could run anything
// the output's credentials allowed); check-config says when it applies.
const DefaultRights = RightRead | RightWrite

// allRights is every valid bit.
const allRights = RightRead | RightWrite | RightAdmin

// RightNames are the accepted values of "rights" and "token-rights".
var RightNames = []string{"read", "write", "admin"}

// ParseRights turns the names in a "rights" list into Rights.
func ParseRights(names []string) (Rights, error) {
	if len(names) == 0 {
		return 0, fmt.Errorf("name at least one of %s (leave the key out for the default, read and write)", quoteList(RightNames))
	}
	var r Rights
	for _, n := range names {
		switch n {
		case "read":
			r |= RightRead
		case "write":
			r |= RightWrite
		case "admin":
			r |= RightAdmin
		default:
			return 0, fmt.Errorf("unknown right %q: want %s", n, quoteList(RightNames))
		}
	}
	return r, nil
}

// Has reports whether r includes every right in want. Admin includes all.
func (r Rights) Has(want Rights) bool { return r&RightAdmin != 0 || r&want == want }

// OrDefault returns r, or DefaultRights when the config named none (zero).
func (r Rights) OrDefault() Rights {
	if r == 0 {
		return DefaultRights
	}
	return r
}

// String lists the rights as the config names them: "read, write".
func (r Rights) String() string {
	var names []string
	for i, n := range RightNames {
		if r&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func quoteList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}
