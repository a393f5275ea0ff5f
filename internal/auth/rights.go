package auth

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/influxdata/influxql"

	"github.com/influxgate/influxgate/internal/config"
)

// Principal is a client the gateway let in: a user, or the holder of a
// token (Name TokenName), with what it may do.
type Principal struct {
	Name   string
	Rights config.Rights
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the client the gateway let in, if the request
// went through a Gateway's Middleware.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// ForbiddenError is a request the client's rights do not allow; its text
// is InfluxDB's for the same refusal, answered with 403.
type ForbiddenError struct{ Msg string }

func (e *ForbiddenError) Error() string { return e.Msg }

// authorizeEndpoint checks the right an endpoint needs as a whole: write
// for /write, /api/v2/write and /api/v1/prom/write, read for /api/v2/query
// (Flux) and /api/v1/prom/read. /query's
// statements are checked one by one by AuthorizeQuery, by the handler that
// parses them.
func (p Principal) authorizeEndpoint(r *http.Request) error {
	switch r.URL.Path {
	case "/write", "/api/v2/write", "/api/v1/prom/write":
		if !p.Rights.Has(config.RightWrite) {
			db := r.URL.Query().Get("db")
			if r.URL.Path == "/api/v2/write" {
				db, _, _ = strings.Cut(r.URL.Query().Get("bucket"), "/")
			}
			// InfluxDB's words for a user without WRITE on the database.
			return &ForbiddenError{Msg: fmt.Sprintf("%q user is not authorized to write to database %q", p.Name, db)}
		}
	case "/api/v2/query":
		if !p.Rights.Has(config.RightRead) {
			return &ForbiddenError{Msg: fmt.Sprintf("error authorizing query: %s not authorized to execute a Flux query, requires read", p.Name)}
		}
	case "/api/v1/prom/read":
		// influxd checks no right here (any user it authenticates may
		// read any database this way); the backends see the output's
		// credentials, so influxgate asks for the read right.
		if !p.Rights.Has(config.RightRead) {
			return &ForbiddenError{Msg: fmt.Sprintf("error authorizing query: %s not authorized to execute a Prometheus remote read, requires read", p.Name)}
		}
	}
	return nil
}

// AuthorizeQuery returns nil when p may run every statement of q, else a
// *ForbiddenError worded as InfluxDB words it ("error authorizing query:
// telegraf not authorized to execute statement 'CREATE DATABASE x',
// requires admin privilege"). The privileges each statement needs are
// InfluxQL's own (Statement.RequiredPrivileges, as influxd checks them):
// admin needs the admin right; READ, WRITE and ALL on a database need
// read, write or both. db is the request's db parameter, the database a
// privilege without one refers to.
func (p Principal) AuthorizeQuery(q *influxql.Query, db string) error {
	for _, st := range q.Statements {
		privs, err := st.RequiredPrivileges()
		if err != nil {
			return &ForbiddenError{Msg: fmt.Sprintf("error authorizing query: %v", err)}
		}
		for _, priv := range privs {
			if priv.Admin {
				if !p.Rights.Has(config.RightAdmin) {
					return p.refused(st, "admin privilege")
				}
				continue
			}
			var need config.Rights
			switch priv.Privilege {
			case influxql.ReadPrivilege:
				need = config.RightRead
			case influxql.WritePrivilege:
				need = config.RightWrite
			case influxql.AllPrivileges:
				need = config.RightRead | config.RightWrite
			}
			if !p.Rights.Has(need) {
				name := priv.Name
				if name == "" {
					name = db
				}
				return p.refused(st, fmt.Sprintf("%s on %s", priv.Privilege, name))
			}
		}
	}
	return nil
}

// refused words a refusal as influxd does. The statement's String() hides
// passwords (CREATE USER ... WITH PASSWORD [REDACTED]).
func (p Principal) refused(st influxql.Statement, requires string) error {
	return &ForbiddenError{Msg: fmt.Sprintf("error authorizing query: %s not authorized to execute statement '%s', requires %s",
		p.Name, st, requires)}
}
