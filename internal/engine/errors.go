package engine

import "errors"

// ErrorDomain says whose the cause of a failure is, as job log messages
// report it: the user's (their query or data), an external system's (a
// file, a broker), or Runnel's own.
type ErrorDomain string

// Error domains.
const (
	DomainUser     ErrorDomain = "user"
	DomainExternal ErrorDomain = "external"
	DomainInternal ErrorDomain = "internal"
)

// DomainError attributes an error to a domain.
type DomainError struct {
	Domain ErrorDomain
	Err    error
}

func (e *DomainError) Error() string { return e.Err.Error() }
func (e *DomainError) Unwrap() error { return e.Err }

// WithDomain attributes err (if not nil) to d, unless it already is.
func WithDomain(d ErrorDomain, err error) error {
	var de *DomainError
	if err == nil || errors.As(err, &de) {
		return err
	}
	return &DomainError{Domain: d, Err: err}
}

// DomainOf is the domain err was attributed to; internal if none was.
func DomainOf(err error) ErrorDomain {
	var de *DomainError
	if errors.As(err, &de) {
		return de.Domain
	}
	return DomainInternal
}
