// words, in Go: the polyglot example job (see plugins/polyglot/JOB.md) as a
// WASI command. The record arrives on stdin; `{"words":N,"text":"<RECORD>"}`
// goes to stdout: N counts runs of non-whitespace, the text is
// ASCII-uppercased and JSON-escaped. An empty record or invalid UTF-8 writes
// a message to stderr and exits 1.
package main

import (
	"errors"
	"io"
	"os"
	"strconv"
	"unicode/utf8"
)

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' || c == '\x0c'
}

// words returns the JSON object for a record, or an error for a bad record.
func words(in []byte) ([]byte, error) {
	if len(in) == 0 {
		return nil, errors.New("empty record")
	}
	// Strict UTF-8: DecodeRune rejects overlongs, surrogates and > U+10FFFF
	// as (RuneError, 1); a real U+FFFD decodes as (RuneError, 3).
	for i := 0; i < len(in); {
		r, size := utf8.DecodeRune(in[i:])
		if r == utf8.RuneError && size == 1 {
			return nil, errors.New("invalid UTF-8 at byte " + strconv.Itoa(i))
		}
		i += size
	}
	count := 0
	for i, c := range in {
		if !isSpace(c) && (i == 0 || isSpace(in[i-1])) {
			count++
		}
	}
	// Escaped by hand: encoding/json would also escape <, >, &, U+2028, U+2029.
	const hex = "0123456789abcdef"
	out := make([]byte, 0, len(in)+32)
	out = append(out, `{"words":`...)
	out = strconv.AppendInt(out, int64(count), 10)
	out = append(out, `,"text":"`...)
	for _, c := range in {
		switch {
		case c == '"':
			out = append(out, `\"`...)
		case c == '\\':
			out = append(out, `\\`...)
		case c == '\n':
			out = append(out, `\n`...)
		case c == '\r':
			out = append(out, `\r`...)
		case c == '\t':
			out = append(out, `\t`...)
		case c == '\b':
			out = append(out, `\b`...)
		case c == '\f':
			out = append(out, `\f`...)
		case c < 0x20:
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		case c >= 'a' && c <= 'z':
			out = append(out, c-'a'+'A')
		default:
			out = append(out, c)
		}
	}
	out = append(out, `"}`...)
	return out, nil
}

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err == nil {
		var out []byte
		if out, err = words(in); err == nil {
			_, err = os.Stdout.Write(out)
		}
	}
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
}
