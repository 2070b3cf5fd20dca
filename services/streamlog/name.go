package streamlog

import (
	"fmt"
	"strings"
)

// SystemTenant is the tenant of Skerry's own services. Only the system token
// may use it.
const SystemTenant = "system"

// Name is a topic's full name, tenant/name.
type Name struct {
	Tenant string
	Topic  string
}

func (n Name) String() string { return n.Tenant + "/" + n.Topic }

// ParseName parses "tenant/name". Tenants are 1-32 characters and topic names
// 1-128 characters of a-z, 0-9, '_', '-' and (topic names only) '.', starting
// with a letter or digit. The rules keep names safe in URLs, file names and
// Prometheus labels without escaping.
func ParseName(s string) (Name, error) {
	tenant, topic, ok := strings.Cut(s, "/")
	if !ok {
		return Name{}, fmt.Errorf("%w: %q: want tenant/name", ErrInvalidName, s)
	}
	n := Name{tenant, topic}
	return n, n.Validate()
}

// Validate checks both parts of the name.
func (n Name) Validate() error {
	if err := ValidateTenant(n.Tenant); err != nil {
		return err
	}
	if !validPart(n.Topic, 128, true) {
		return fmt.Errorf("%w: topic %q: use 1-128 of a-z 0-9 _ - . starting with a letter or digit", ErrInvalidName, n.Topic)
	}
	return nil
}

// ValidateTenant checks a tenant name.
func ValidateTenant(t string) error {
	if !validPart(t, 32, false) {
		return fmt.Errorf("%w: tenant %q: use 1-32 of a-z 0-9 _ - starting with a letter or digit", ErrInvalidName, t)
	}
	return nil
}

// ValidateConsumer checks a consumer (cursor) name; the rules are a topic's.
func ValidateConsumer(c string) error {
	if !validPart(c, 128, true) {
		return fmt.Errorf("%w: consumer %q: use 1-128 of a-z 0-9 _ - . starting with a letter or digit", ErrInvalidName, c)
	}
	return nil
}

func validPart(s string, max int, dot bool) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '-'):
		case i > 0 && dot && c == '.':
		default:
			return false
		}
	}
	return true
}
