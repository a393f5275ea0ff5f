package config

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is one configuration problem. Load and Validate return every
// problem they find, joined with errors.Join; each element is a *FieldError.
type FieldError struct {
	// File is the config file's name as given to Load or LoadBytes; empty
	// when the problem comes from Validate on a Config built in code.
	File string
	// Line is the 1-based line of the key in File, or 0 when unknown (for
	// example a required key that is missing from a section the file does
	// not have).
	Line int
	// Key is the full path of the key in the file's own terms:
	// "http[0].output[1].timeout" for TOML, "addresses[1].url" for Inmate.
	// Empty for problems that concern the whole file (a syntax error).
	Key string
	// Msg says what is wrong and, where it helps, what is expected.
	Msg string
	// Unknown marks an unknown-key error; its Msg already names the key and
	// the section it appeared in, so Error() does not repeat the path.
	Unknown bool
}

// Error renders "file:line: key: msg", leaving out the parts that are unknown.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" && !e.Unknown {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// FieldErrors returns the *FieldError values inside err (as returned by Load,
// LoadBytes or Validate), in order. Other errors in the tree are skipped.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if fe, ok := err.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if e := errors.Unwrap(err); e != nil {
			walk(e)
		}
	}
	walk(err)
	return out
}

// problems accumulates FieldErrors in order.
type problems []*FieldError

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	errs := make([]error, len(p))
	for i, e := range p {
		errs[i] = e
	}
	return errors.Join(errs...)
}
