package xml

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	defaultMaxBytes = 1 << 20
	defaultMaxDepth = 4 // <xml> > list > item > field: the deepest shape a Document holds
)

// Document is a decoded APIv2 reply. Its values share one copy of the body, kept in memory
// as long as any of them is.
type Document struct {
	// Fields holds every child of <xml> that has no element children: its text, with CDATA
	// sections and references decoded and surrounding whitespace (space, tab, CR, LF)
	// trimmed. An empty element is an empty field, so an empty list shows up here as "".
	Fields map[string]string
	// Lists holds every child of <xml> that has element children, one map per child, e.g.
	// <hblist><hbinfo><openid>a</openid></hbinfo>...</hblist> gives
	// Lists["hblist"] = [{"openid": "a"}, ...]. The names of the item elements are not kept.
	// Lists is nil when the reply has none.
	Lists map[string][]map[string]string
}

// Decoder decodes APIv2 replies. The zero value is ready to use.
type Decoder struct {
	// MaxBytes is the largest body accepted (ErrTooLarge beyond). 0 or less means 1 MiB.
	MaxBytes int64
	// MaxDepth is the deepest element nesting accepted, <xml> counting as 1 (ErrTooDeep
	// beyond). 0 or less means 4, which is also the most a Document holds: larger values act
	// as 4.
	MaxDepth int
}

// Unmarshal decodes data with the default limits: Decoder{}.Decode(data).
func Unmarshal(data []byte) (*Document, error) {
	return Decoder{}.Decode(data)
}

// DecodeReader reads r to its end and decodes what it read. It stops reading, with
// ErrTooLarge, as soon as the body is over MaxBytes.
func (d Decoder) DecodeReader(r io.Reader) (*Document, error) {
	limit := d.maxBytes()
	if limit < math.MaxInt64 {
		limit++ // one byte more tells a body at the limit from one over it
	}
	data, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return nil, fmt.Errorf("xml: reading body: %w", err)
	}
	return d.Decode(data)
}

// Decode decodes an APIv2 reply: an optional XML declaration, comments and processing
// instructions, then <xml> holding fields and lists (see Document). Attributes are
// ignored. It does not keep data. The errors are listed in the package documentation;
// a duplicated field or list is ErrDuplicate, not last-one-wins.
func (d Decoder) Decode(data []byte) (*Document, error) {
	if limit := d.maxBytes(); int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	p := parser{src: string(data), maxDepth: d.maxDepth()}
	doc, err := p.document()
	if err != nil {
		return nil, err
	}
	if _, bad := scan(p.src); bad >= 0 {
		return nil, fmt.Errorf("%w at offset %d", ErrInvalidChar, bad)
	}
	return doc, nil
}

func (d Decoder) maxBytes() int64 {
	if d.MaxBytes <= 0 {
		return defaultMaxBytes
	}
	return d.MaxBytes
}

func (d Decoder) maxDepth() int {
	if d.MaxDepth <= 0 || d.MaxDepth > defaultMaxDepth {
		return defaultMaxDepth
	}
	return d.MaxDepth
}

// parser reads one document. Values are substrings of src where possible, so that a
// typical reply costs one copy of the body and no allocation per field.
type parser struct {
	src      string
	pos      int
	maxDepth int

	// The character data being read: val while it is one piece of src, buf once it is not
	// (inBuf). pend holds blank text that counts only if more data follows it.
	val       string
	buf, pend []byte
	inBuf     bool
}

func (p *parser) document() (*Document, error) {
	if strings.HasPrefix(p.src, "\uFEFF") {
		p.pos = len("\uFEFF")
	}
	if err := p.misc(); err != nil {
		return nil, err
	}
	if p.pos == len(p.src) || p.src[p.pos] != '<' {
		return nil, p.notXML()
	}
	name, empty, err := p.startTag(1)
	if err != nil {
		return nil, err
	}
	if name != "xml" {
		return nil, p.notXML()
	}
	// A field takes about two '<': a cheap size hint.
	doc := &Document{Fields: make(map[string]string, min(strings.Count(p.src, "<")/2, 64))}
	if !empty {
		if err := p.children(name, 1, doc.Fields, doc); err != nil {
			return nil, err
		}
	}
	if err := p.misc(); err != nil {
		return nil, err
	}
	if p.pos < len(p.src) {
		return nil, p.errorf("content after </xml>")
	}
	return doc, nil
}

// children reads the content of the element name, opened at depth, through its end tag,
// putting its children without element children in fields. For the root (doc set), a child
// with element children goes to doc.Lists.
func (p *parser) children(name string, depth int, fields map[string]string, doc *Document) error {
	for {
		if err := p.blank(name); err != nil {
			return err
		}
		if p.closing() {
			return p.endTag(name)
		}
		at := p.pos
		child, empty, err := p.startTag(depth + 1)
		if err != nil {
			return err
		}
		v := ""
		if !empty {
			if v, err = p.chars(); err != nil {
				return err
			}
			if !p.closing() { // an element child follows
				switch {
				case v != "":
					return p.mixed(child)
				case doc == nil:
					return p.tooDeep(depth + 2)
				}
				if err := p.list(child, depth+1, doc, at); err != nil {
					return err
				}
				continue
			}
			if err := p.endTag(child); err != nil {
				return err
			}
		}
		n := len(fields)
		if fields[child] = v; len(fields) == n || doc != nil && doc.Lists[child] != nil {
			return duplicate(child, at)
		}
	}
}

// list reads the element name, opened at depth (its start tag at offset at) and whose first
// element child starts at p.pos, into doc.Lists[name].
func (p *parser) list(name string, depth int, doc *Document, at int) error {
	var items []map[string]string
	for !p.closing() {
		item, empty, err := p.startTag(depth + 1)
		if err != nil {
			return err
		}
		m := make(map[string]string)
		if !empty {
			if err := p.children(item, depth+1, m, nil); err != nil {
				return err
			}
		}
		items = append(items, m)
		if err := p.blank(name); err != nil {
			return err
		}
	}
	if err := p.endTag(name); err != nil {
		return err
	}
	if _, dup := doc.Fields[name]; dup || doc.Lists[name] != nil {
		return duplicate(name, at)
	}
	if doc.Lists == nil {
		doc.Lists = make(map[string][]map[string]string)
	}
	doc.Lists[name] = items
	return nil
}

// startTag reads the start tag at p.pos of an element at depth, skipping its attributes,
// and reports whether it is empty (<a/>).
func (p *parser) startTag(depth int) (name string, empty bool, err error) {
	if depth > p.maxDepth {
		return "", false, p.tooDeep(depth)
	}
	i := p.pos + 1
	j := i
	for j < len(p.src) && !isSpace(p.src[j]) && p.src[j] != '>' && p.src[j] != '/' {
		j++
	}
	if name = p.src[i:j]; !validName(name) {
		if name == "" {
			return "", false, p.errorf("element name expected")
		}
		return "", false, fmt.Errorf("%w: element %q at offset %d", ErrInvalidName, clip(name), p.pos)
	}
	for {
		k := skipSpace(p.src, j)
		switch {
		case k == len(p.src):
			return "", false, p.eof()
		case p.src[k] == '>':
			p.pos = k + 1
			return name, false, nil
		case strings.HasPrefix(p.src[k:], "/>"):
			p.pos = k + 2
			return name, true, nil
		case k == j: // an attribute must follow a space
			return "", false, p.errorf("malformed start tag <%s>", clip(name))
		}
		if j, err = p.attribute(k); err != nil {
			return "", false, err
		}
	}
}

// attribute skips the attribute at offset i of a start tag and returns the offset after it.
func (p *parser) attribute(i int) (int, error) {
	k := i
	for k < len(p.src) && (isNameByte(p.src[k]) || p.src[k] == ':') {
		k++
	}
	if k > i {
		k = skipSpace(p.src, k)
		if k < len(p.src) && p.src[k] == '=' {
			k = skipSpace(p.src, k+1)
			if k < len(p.src) && (p.src[k] == '"' || p.src[k] == '\'') {
				end := strings.IndexByte(p.src[k+1:], p.src[k])
				if end < 0 {
					return 0, p.eof()
				}
				if strings.IndexByte(p.src[k+1:k+1+end], '<') < 0 {
					return k + 2 + end, nil
				}
			}
		}
	}
	return 0, p.errorf("malformed attribute")
}

// closing reports whether an end tag starts at p.pos.
func (p *parser) closing() bool {
	return strings.HasPrefix(p.src[p.pos:], "</")
}

// endTag reads the end tag of name at p.pos.
func (p *parser) endTag(name string) error {
	i := p.pos + len("</")
	if strings.HasPrefix(p.src[i:], name) {
		i = skipSpace(p.src, i+len(name))
		if i < len(p.src) && p.src[i] == '>' {
			p.pos = i + 1
			return nil
		}
	}
	return p.errorf("want </%s>", clip(name))
}

// misc skips whitespace, comments and processing instructions.
func (p *parser) misc() error {
	for {
		p.pos = skipSpace(p.src, p.pos)
		if ok, err := p.markup(); !ok || err != nil {
			return err
		}
	}
}

// markup skips the comment or processing instruction at p.pos, and reports whether there
// was one. Declarations (<!DOCTYPE, <!ENTITY, ...) are refused.
func (p *parser) markup() (bool, error) {
	rest := p.src[p.pos:]
	var open, end string
	switch {
	case strings.HasPrefix(rest, "<!--"):
		open, end = "<!--", "-->"
	case strings.HasPrefix(rest, "<?"):
		open, end = "<?", "?>"
	case strings.HasPrefix(rest, "<!"):
		const html = "<!DOCTYPE html"
		switch {
		case len(rest) >= len(html) && strings.EqualFold(rest[:len(html)], html):
			return false, p.notXML()
		case len(rest) > 2 && ('A' <= rest[2] && rest[2] <= 'Z' || 'a' <= rest[2] && rest[2] <= 'z'):
			return false, fmt.Errorf("%w at offset %d", ErrDoctype, p.pos)
		}
		return false, p.errorf("unexpected <!")
	default:
		return false, nil
	}
	i := strings.Index(rest[len(open):], end)
	if i < 0 {
		return false, p.eof()
	}
	p.pos += len(open) + i + len(end)
	return true, nil
}

// chars reads the character data up to the next tag (text, references, CDATA sections;
// comments and processing instructions skipped) and returns it trimmed.
func (p *parser) chars() (string, error) {
	p.val, p.inBuf, p.buf, p.pend = "", false, p.buf[:0], p.pend[:0]
	for {
		i := strings.IndexByte(p.src[p.pos:], '<')
		if i < 0 {
			return "", p.eof()
		}
		if i > 0 {
			if err := p.text(p.src[p.pos : p.pos+i]); err != nil {
				return "", err
			}
			p.pos += i
		}
		if strings.HasPrefix(p.src[p.pos:], "<![CDATA[") {
			start := p.pos + len("<![CDATA[")
			end := strings.Index(p.src[start:], "]]>")
			if end < 0 {
				return "", p.eof()
			}
			p.add(p.src[start : start+end])
			p.pos = start + end + len("]]>")
			continue
		}
		if ok, err := p.markup(); err != nil {
			return "", err
		} else if !ok {
			break
		}
	}
	if p.inBuf {
		return trim(string(p.buf)), nil // one allocation: the conversion
	}
	return trim(p.val), nil
}

// text adds the text s, found at p.pos, to the value being read, decoding references.
func (p *parser) text(s string) error {
	if strings.IndexByte(s, '&') < 0 {
		p.add(s)
		return nil
	}
	p.toBuf()
	for i := 0; ; {
		j := strings.IndexByte(s[i:], '&')
		if j < 0 {
			p.buf = appendNorm(p.buf, s[i:])
			return nil
		}
		p.buf = appendNorm(p.buf, s[i:i+j])
		i += j
		k := strings.IndexByte(s[i:], ';')
		if k < 0 {
			return syntaxError(p.pos+i, "unterminated reference")
		}
		name := s[i+1 : i+k]
		r, err := reference(name)
		switch {
		case err == ErrInvalidChar:
			return fmt.Errorf("%w%s at offset %d", err, quoteRef(name), p.pos+i)
		case err != nil:
			return syntaxError(p.pos+i, "%v%s", err, quoteRef(name))
		}
		p.buf = utf8.AppendRune(p.buf, r)
		i += k + 1
	}
}

// quoteRef returns " \"&name;\"" for an error message when name looks like
// an entity or character reference, and "" otherwise: a stray '&' in a
// value followed by a ';' further on, whose text is not quoted.
func quoteRef(name string) string {
	if name == "" || len(name) > 16 {
		return ""
	}
	for i := 0; i < len(name); i++ {
		if !isNameByte(name[i]) && (i > 0 || name[i] != '#') {
			return ""
		}
	}
	return " " + strconv.Quote("&"+name+";")
}

// add adds raw character data (without references) to the value being read.
func (p *parser) add(s string) {
	switch {
	case isBlank(s):
		if p.inBuf || p.val != "" {
			p.pend = appendNorm(p.pend, s)
		}
	case !p.inBuf && p.val == "" && strings.IndexByte(s, '\r') < 0:
		p.val = s
	default:
		p.toBuf()
		p.buf = appendNorm(p.buf, s)
	}
}

// toBuf moves the value being read to buf, followed by the pending blank text.
func (p *parser) toBuf() {
	if !p.inBuf {
		p.buf = append(p.buf, p.val...)
		p.inBuf = true
	}
	p.buf = append(p.buf, p.pend...)
	p.pend = p.pend[:0]
}

var (
	errUnknownEntity = errors.New("unknown entity")
	errCharRef       = errors.New("malformed character reference")
)

// reference decodes an entity or character reference, given what stands between & and ;.
func reference(name string) (rune, error) {
	switch name {
	case "lt":
		return '<', nil
	case "gt":
		return '>', nil
	case "amp":
		return '&', nil
	case "apos":
		return '\'', nil
	case "quot":
		return '"', nil
	}
	num, ok := strings.CutPrefix(name, "#")
	if !ok {
		return 0, errUnknownEntity
	}
	base := 10
	if hex, ok := strings.CutPrefix(num, "x"); ok {
		num, base = hex, 16
	}
	n, err := strconv.ParseUint(num, base, 32)
	switch {
	case err != nil:
		return 0, errCharRef
	case !isXMLChar(rune(n)):
		return 0, ErrInvalidChar
	}
	return rune(n), nil
}

// blank reads character data that must be blank: the content of name between elements.
func (p *parser) blank(name string) error {
	v, err := p.chars()
	if err == nil && v != "" {
		return p.mixed(name)
	}
	return err
}

func (p *parser) mixed(name string) error {
	return p.errorf("text mixed with elements in <%s>", clip(name))
}

func (p *parser) tooDeep(depth int) error {
	return fmt.Errorf("%w: depth %d at offset %d, limit %d", ErrTooDeep, depth, p.pos, p.maxDepth)
}

func (p *parser) notXML() error {
	s := trim(p.src)
	if s == "" {
		return fmt.Errorf("%w: empty body", ErrNotXML)
	}
	return fmt.Errorf("%w: received %q", ErrNotXML, clip(s))
}

func (p *parser) eof() error {
	return fmt.Errorf("xml: syntax error: unexpected end of input after %d bytes", len(p.src))
}

func (p *parser) errorf(format string, args ...any) error {
	return syntaxError(p.pos, format, args...)
}

func syntaxError(at int, format string, args ...any) error {
	return fmt.Errorf("xml: syntax error at offset %d: %s", at, fmt.Sprintf(format, args...))
}

func duplicate(name string, at int) error {
	return fmt.Errorf("%w <%s> at offset %d", ErrDuplicate, clip(name), at)
}

// trim removes surrounding spaces, tabs, CRs and LFs.
func trim(s string) string {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			return false
		}
	}
	return true
}

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// appendNorm appends s with its line ends normalised as XML parsers do: CR LF and a lone CR
// become LF.
func appendNorm(b []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, '\r')
		if i < 0 {
			return append(b, s...)
		}
		b = append(append(b, s[:i]...), '\n')
		s = strings.TrimPrefix(s[i+1:], "\n")
	}
}
