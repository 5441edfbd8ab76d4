// Package xml encodes and decodes the flat <xml> bodies of WeChat Pay APIv2.
//
// Marshal writes a request from a map of parameters: <xml><key>value</key>...</xml>, keys
// in byte order so the output is deterministic, each value as plain text, a CDATA section or
// escaped text, whichever carries it exactly. Unmarshal, or a Decoder with other limits,
// reads a reply into a Document: the leaf children of <xml> in Fields and nested lists,
// such as gethbinfo's <hblist><hbinfo>...</hbinfo></hblist>, in Lists.
//
// Decoding trims the whitespace around a value (replies are often one field per line);
// encoding does not. So Unmarshal(Marshal(p)).Fields equals p whenever no value of p
// starts or ends with a space, tab, CR or LF; other values come back trimmed. A CR inside a
// value survives the trip: Marshal writes it as &#13;, which parsers do not turn into LF.
//
// # Limits
//
// Decoding fails, with an error wrapping one of the sentinels for errors.Is, on:
//   - a body over Decoder.MaxBytes (default 1 MiB): ErrTooLarge;
//   - nesting deeper than Decoder.MaxDepth (default and most 4, <xml> counting as 1:
//     xml > hblist > hbinfo > openid): ErrTooDeep;
//   - a DOCTYPE or entity declaration: ErrDoctype;
//   - a body that is not an <xml> document, such as a proxy's HTML error page or JSON:
//     ErrNotXML, whose message quotes at most 64 bytes of the body, escaped;
//   - a character XML 1.0 excludes, raw or as a character reference: ErrInvalidChar;
//   - an element name other than the simple ASCII names Marshal writes: ErrInvalidName;
//   - a field or list named twice in the same element: ErrDuplicate. The last value is not
//     taken, because a repeated sign or return_code is more likely forged than an accident.
//
// Malformed XML (mismatched or unclosed tags, unknown entities, text beside elements,
// content after </xml>, a truncated body) is a syntax error giving the byte offset. Errors
// start with "xml: ", clip names to 64 bytes and never quote a value.
//
// # Why a hand-written decoder
//
// APIv2 bodies use a small, fixed part of XML, and a reply is decoded on every payout. The
// decoder reads the body in one pass and hands out values as substrings of a single copy of
// it, copying only values that need decoding: a typical reply costs six allocations, where
// encoding/xml needs over a hundred and several times the time (see the benchmarks). Being
// small, it can be strict about what it accepts, and it is fuzzed to never panic.
//
// # DOCTYPE refusal
//
// A document type declaration is how XML external entity (XXE) attacks make a parser read
// local files or reach internal hosts, and how "billion laughs" entity expansion exhausts
// memory. APIv2 replies never carry one, so the decoder refuses it outright instead of
// skipping it, and knows only the five predefined entities and character references.
package xml
