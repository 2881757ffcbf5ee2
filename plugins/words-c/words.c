// `words`, in C: the polyglot example job (see `plugins/polyglot/JOB.md`).
// A UTF-8 record becomes `{"words":N,"text":"<RECORD>"}`: N counts runs of
// non-whitespace, the text is ASCII-uppercased and JSON-escaped. An empty
// record or invalid UTF-8 returns `err`.
//
// No generated bindings: the canonical ABI of the `plugin` world
// (wit/sandmap.wit) is written by hand below. It is small:
//
//   %map: func(input: list<u8>) -> result<list<u8>, string>
//
// is the core export `sandmap:plugin/mapper@0.1.0#map (ptr, len) -> ret`.
// The host writes the input into memory it got from our `cabi_realloc`
// (the input is then ours to free), and `ret` points to a 12-byte return
// area: discriminant (u8: 0 = ok, 1 = err) at +0, payload pointer at +4,
// payload length at +8. Once the host has copied the result out, it calls
// `cabi_post_sandmap:plugin/mapper@0.1.0#map (ret)`, which frees the payload.

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(name)))

// ---- the job --------------------------------------------------------------

static int is_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' || c == '\x0c';
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF. Returns the offset of the first bad byte, or `len` if all is valid.
static size_t utf8_error_offset(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;           // continuation bytes
        uint8_t lo = 0x80;  // allowed range of the first continuation byte
        uint8_t hi = 0xbf;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0) lo = 0xa0;  // overlong
            if (c == 0xed) hi = 0x9f;  // surrogates
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0) lo = 0x90;  // overlong
            if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
        } else {
            return i;  // continuation byte, 0xc0, 0xc1 or 0xf5..0xff
        }
        if (len - i <= n || s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xc0) != 0x80) return i;
        i += n + 1;
    }
    return len;
}

// Bytes that byte `c` of the text takes once escaped.
static size_t escaped_len(uint8_t c) {
    switch (c) {
    case '"': case '\\': case '\n': case '\r': case '\t': case '\b': case '\f':
        return 2;
    default:
        return c < 0x20 ? 6 : 1;
    }
}

static char *put(char *out, const char *s) {
    size_t n = strlen(s);
    memcpy(out, s, n);
    return out + n;
}

// Writes `n` in decimal into `digits` (at least 20 bytes); returns its length.
static size_t format_size(size_t n, char *digits) {
    char tmp[20];
    size_t len = 0;
    do {
        tmp[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    for (size_t i = 0; i < len; i++) digits[i] = tmp[len - 1 - i];
    return len;
}

// Returns 1 with the record's JSON object in *out / *out_len, or 0 with an
// error message there; either way malloc'ed.
static int words(const uint8_t *in, size_t len, char **out, size_t *out_len) {
    static const char hex[] = "0123456789abcdef";
    const char *prefix = "{\"words\":", *middle = ",\"text\":\"", *suffix = "\"}";
    char msg[64], digits[20];

    if (len == 0) {
        strcpy(msg, "empty record");
        goto fail;
    }
    size_t bad = utf8_error_offset(in, len);
    if (bad < len) {
        char *p = put(msg, "invalid UTF-8 at byte ");
        p[format_size(bad, p)] = '\0';
        goto fail;
    }

    size_t count = 0, text_len = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_space(in[i]) && (i == 0 || is_space(in[i - 1]))) count++;
        text_len += escaped_len(in[i]);
    }
    size_t count_len = format_size(count, digits);
    size_t total = strlen(prefix) + count_len + strlen(middle) + text_len + strlen(suffix);
    char *buf = malloc(total), *p = buf;
    if (!buf) abort();

    p = put(p, prefix);
    memcpy(p, digits, count_len);
    p = put(p + count_len, middle);
    for (size_t i = 0; i < len; i++) {
        uint8_t c = in[i];
        switch (c) {
        case '"': p = put(p, "\\\""); break;
        case '\\': p = put(p, "\\\\"); break;
        case '\n': p = put(p, "\\n"); break;
        case '\r': p = put(p, "\\r"); break;
        case '\t': p = put(p, "\\t"); break;
        case '\b': p = put(p, "\\b"); break;
        case '\f': p = put(p, "\\f"); break;
        default:
            if (c < 0x20) {
                p = put(p, "\\u00");
                *p++ = hex[c >> 4];
                *p++ = hex[c & 15];
            } else {
                *p++ = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : (char)c;
            }
        }
    }
    p = put(p, suffix);
    *out = buf;
    *out_len = (size_t)(p - buf);
    return 1;

fail:
    *out_len = strlen(msg);
    *out = malloc(*out_len);
    if (!*out) abort();
    memcpy(*out, msg, *out_len);
    return 0;
}

// ---- canonical ABI glue ---------------------------------------------------

// The host allocates the input list here (and may grow it with `old_ptr`).
EXPORT("cabi_realloc")
void *cabi_realloc(void *old_ptr, size_t old_size, size_t align, size_t new_size) {
    if (new_size == 0) return (void *)align;  // a non-null, aligned dangling pointer
    if (old_size == 0) old_ptr = NULL;        // which is never passed on to realloc
    void *p = realloc(old_ptr, new_size);     // malloc aligns to 16
    if (!p) abort();                          // traps: out of memory
    return p;
}

static struct {
    uint8_t tag;  // 0 = ok, 1 = err
    char *ptr;
    size_t len;
} ret_area;
_Static_assert(offsetof(__typeof__(ret_area), ptr) == 4 && offsetof(__typeof__(ret_area), len) == 8,
               "the return area is {u8 tag; ptr at +4; len at +8}");

EXPORT("sandmap:plugin/mapper@0.1.0#map")
void *export_map(uint8_t *input, size_t len) {
    ret_area.tag = words(input, len, &ret_area.ptr, &ret_area.len) ? 0 : 1;
    if (len > 0) free(input);  // a zero-length input is the dangling pointer
    return &ret_area;
}

EXPORT("cabi_post_sandmap:plugin/mapper@0.1.0#map")
void export_map_post_return(void *ret) {
    (void)ret;
    free(ret_area.ptr);
    ret_area.ptr = NULL;
}
