package tower

import (
	"unicode"
	"unicode/utf8"
)

// maxNameBytes bounds operator-set names and descriptions.
const maxNameBytes = 256

// checkText refuses operator-set or box-reported text that would be unsafe
// to show on a terminal or in a web page: invalid UTF-8, control
// characters (NUL, ESC and so ANSI escape sequences, C1 controls, DEL),
// and the Unicode bidirectional overrides and isolates that make text read
// differently from what it holds. Such text is refused, not cleaned: the
// operator learns at once which field to fix.
func checkText(what, v string, max int) error {
	if len(v) > max {
		return refuse(ErrBadRequest, "%s is longer than %d bytes", what, max)
	}
	if !utf8.ValidString(v) {
		return refuse(ErrBadRequest, "%s is not valid UTF-8", what)
	}
	for i, r := range v {
		if bad := unsafeRune(r); bad != "" {
			return refuse(ErrBadRequest, "%s holds %s (%U at byte %d); use printable text only", what, bad, r, i)
		}
	}
	return nil
}

// unsafeRune names the kind of r when it must not appear in shown text.
func unsafeRune(r rune) string {
	switch {
	case r == 0:
		return "a NUL character"
	case r == 0x1b:
		return "an escape character (ANSI sequences are not allowed)"
	case unicode.IsControl(r):
		return "a control character"
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return "a bidirectional text control"
	}
	return ""
}

// checkTexts applies checkText to several fields.
func checkTexts(fields ...textField) error {
	for _, f := range fields {
		if err := checkText(f.name, f.v, f.max); err != nil {
			return err
		}
	}
	return nil
}

type textField struct {
	name, v string
	max     int
}
