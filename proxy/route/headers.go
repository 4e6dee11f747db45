package route

import (
	"net/http"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// HeaderAction says how an added header treats the values already there
// (Envoy's HeaderValueOption.append_action).
type HeaderAction uint8

const (
	// AppendIfExistsOrAdd adds the value after any existing ones.
	AppendIfExistsOrAdd HeaderAction = iota
	// AddIfAbsent adds the value only when the header is absent.
	AddIfAbsent
	// OverwriteIfExistsOrAdd replaces all existing values with this one.
	OverwriteIfExistsOrAdd
	// OverwriteIfExists replaces existing values, and adds nothing when the
	// header is absent.
	OverwriteIfExists
)

// HeaderAdd is one header to add.
type HeaderAdd struct {
	Name   string // canonical MIME form, as http.Header keys are
	Value  string // literal value ("%%" in the configuration already unescaped)
	Action HeaderAction
}

// HeaderMutation is the header changes one configuration level (a weighted
// cluster, a route, a virtual host or the route configuration) makes.
// Shared by every request: read it, never modify it.
type HeaderMutation struct {
	Remove []string // canonical names, removed first
	Add    []HeaderAdd
}

// HeaderMutations are levels applied in order.
type HeaderMutations []*HeaderMutation

// Apply applies every level to h in order.
func (ms HeaderMutations) Apply(h http.Header) {
	for _, m := range ms {
		m.Apply(h)
	}
}

// Apply changes h as Envoy's header parser does for one level: removals
// first; then each addition is decided against the headers as they are
// after the removals; then overwrites are set (the last one of a name
// wins), and finally appends are added.
func (m *HeaderMutation) Apply(h http.Header) {
	for _, name := range m.Remove {
		delete(h, name)
	}
	var small [8]bool
	active := small[:0]
	if len(m.Add) > len(small) {
		active = make([]bool, 0, len(m.Add))
	}
	for _, a := range m.Add {
		_, present := h[a.Name]
		active = append(active, a.Action == AppendIfExistsOrAdd || a.Action == OverwriteIfExistsOrAdd ||
			(a.Action == AddIfAbsent && !present) || (a.Action == OverwriteIfExists && present))
	}
	for i, a := range m.Add {
		if active[i] && (a.Action == OverwriteIfExistsOrAdd || a.Action == OverwriteIfExists) {
			h[a.Name] = []string{a.Value}
		}
	}
	for i, a := range m.Add {
		if active[i] && (a.Action == AppendIfExistsOrAdd || a.Action == AddIfAbsent) {
			h[a.Name] = append(h[a.Name], a.Value)
		}
	}
}

// headerLists is one level's four header lists as the protos carry them.
type headerLists struct {
	reqAdd     []*corev3.HeaderValueOption
	reqRemove  []string
	respAdd    []*corev3.HeaderValueOption
	respRemove []string
}

// compile returns the request and response mutations of one level at path;
// nil for a level that changes nothing.
func (l headerLists) compile(p *problems, path string) (req, resp *HeaderMutation) {
	req = compileMutation(p, path, "request_headers_to_add", "request_headers_to_remove", l.reqAdd, l.reqRemove, true)
	resp = compileMutation(p, path, "response_headers_to_add", "response_headers_to_remove", l.respAdd, l.respRemove, false)
	return req, resp
}

func compileMutation(p *problems, path, addField, removeField string, add []*corev3.HeaderValueOption, remove []string, request bool) *HeaderMutation {
	m := &HeaderMutation{}
	for i, name := range remove {
		at := index(field(path, removeField), i)
		if msg := checkMutableHeader(name, request); msg != "" {
			p.Addf(at, "%s", msg)
			continue
		}
		m.Remove = append(m.Remove, http.CanonicalHeaderKey(name))
	}
	for i, o := range add {
		at := index(field(path, addField), i)
		if a, ok := compileHeaderAdd(p, at, o, request); ok {
			m.Add = append(m.Add, a)
		}
	}
	if len(m.Remove) == 0 && len(m.Add) == 0 {
		return nil
	}
	return m
}

func compileHeaderAdd(p *problems, path string, o *corev3.HeaderValueOption, request bool) (HeaderAdd, bool) {
	p.OnlyFields(path, o, "header", "append_action", "keep_empty_value")
	hv := o.GetHeader()
	if hv == nil {
		p.Addf(field(path, "header"), "missing")
		return HeaderAdd{}, false
	}
	hp := field(path, "header")
	p.OnlyFields(hp, hv, "key", "value", "raw_value")
	ok := true
	if msg := checkMutableHeader(hv.GetKey(), request); msg != "" {
		p.Addf(field(hp, "key"), "%s", msg)
		ok = false
	}
	raw := hv.GetValue()
	if len(hv.GetRawValue()) > 0 {
		if raw != "" {
			p.Addf(hp, "only one of value and raw_value may be set")
			ok = false
		}
		raw = string(hv.GetRawValue())
	}
	value, msg := literalHeaderValue(raw)
	if msg != "" {
		p.Addf(field(hp, "value"), "%s", msg)
		ok = false
	}
	var action HeaderAction
	switch o.GetAppendAction() {
	case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
		action = AppendIfExistsOrAdd
	case corev3.HeaderValueOption_ADD_IF_ABSENT:
		action = AddIfAbsent
	case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
		action = OverwriteIfExistsOrAdd
	case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
		action = OverwriteIfExists
	default:
		p.Addf(field(path, "append_action"), "unknown action %d", o.GetAppendAction())
		ok = false
	}
	if !ok || (value == "" && !o.GetKeepEmptyValue()) {
		return HeaderAdd{}, false // an empty value is not added, as in Envoy
	}
	return HeaderAdd{Name: http.CanonicalHeaderKey(hv.GetKey()), Value: value, Action: action}, true
}

// checkMutableHeader reports why name cannot be added or removed, or "".
func checkMutableHeader(name string, request bool) string {
	switch {
	case name == "":
		return "empty header name"
	case strings.HasPrefix(name, ":"), request && strings.EqualFold(name, "host"):
		return "pseudo-headers and host may not be modified"
	case !validHeaderName(name):
		return "invalid header name " + strconv.Quote(name)
	}
	return ""
}

// literalHeaderValue returns the value of a configured header: Envoy
// treats `%...%` as a substitution command, which is not supported; `%%`
// is a literal percent sign.
func literalHeaderValue(v string) (string, string) {
	if strings.ContainsAny(v, "\x00\r\n") {
		return "", "invalid character in header value"
	}
	if !strings.Contains(v, "%") {
		return v, ""
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 < len(v) && v[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		return "", "substitution commands (%...%) are not supported; write %% for a literal %"
	}
	return b.String(), ""
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
