package configdir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"
)

// document is one YAML document of a file, kept with its node tree so that
// problems found later can be placed on a line.
type document struct {
	file string
	root *yaml.Node
}

func (d document) problem(path fieldPath, reason string) Problem {
	return Problem{File: d.file, Line: lineOf(d.root, path), Field: string(path), Reason: reason}
}

// object is one decoded document: val is the typed object (such as a
// *corev1.Service) that spec.newObject made.
type object struct {
	doc  document
	spec *kindSpec
	val  metav1.Object
}

// parseFile splits a file into documents and decodes each. It returns the
// objects it could decode and a problem for everything else; a YAML syntax
// error ends the file, since nothing after it can be trusted.
func parseFile(name string, data []byte) ([]object, []Problem) {
	var (
		objs     []object
		problems []Problem
	)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			problems = append(problems, syntaxProblem(name, err))
			break
		}
		if len(n.Content) == 0 {
			continue
		}
		doc := document{file: name, root: n.Content[0]}
		obj, ps := decodeDocument(doc)
		problems = append(problems, ps...)
		if obj != nil {
			objs = append(objs, *obj)
		}
	}
	return objs, problems
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxProblem turns a yaml.v3 error into a problem on the line it names.
func syntaxProblem(file string, err error) Problem {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1]) // the pattern admits only digits
		return Problem{File: file, Line: line, Reason: "invalid YAML: " + m[2]}
	}
	return Problem{File: file, Reason: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// decodeDocument decodes one document into its typed object. An empty
// document yields neither an object nor a problem.
func decodeDocument(doc document) (*object, []Problem) {
	root := doc.root
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, []Problem{doc.problem("", "a document must be a mapping with apiVersion and kind")}
	}
	var problems []Problem
	duplicateKeys(root, "", func(p Problem) {
		p.File = doc.file
		problems = append(problems, p)
	})
	if len(problems) > 0 {
		return nil, problems
	}

	apiVersion, _ := scalarField(root, "apiVersion")
	k, _ := scalarField(root, "kind")
	spec := lookupKind(kind{apiVersion, k})
	if spec == nil {
		return nil, []Problem{kindProblem(doc, apiVersion, k)}
	}
	obj := &object{doc: doc, spec: spec, val: spec.newObject()}
	problems = decodeStrict(doc, obj.val)
	if n, _ := step(root, segment{key: "spec"}); spec.specRequired && (n == nil || deref(n).ShortTag() == "!!null") {
		problems = append(problems, doc.problem("spec", "Required value"))
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return obj, nil
}

func kindProblem(doc document, apiVersion, k string) Problem {
	switch {
	case apiVersion == "":
		return doc.problem("apiVersion", "is required (supported kinds: "+supportedKinds()+")")
	case k == "":
		return doc.problem("kind", "is required (supported kinds: "+supportedKinds()+")")
	}
	return doc.problem("kind", fmt.Sprintf("unsupported kind %q (supported kinds: %s)",
		kind{apiVersion, k}.String(), supportedKinds()))
}

// decodeStrict decodes a document into a typed object as the Kubernetes API
// server would: through JSON, with unknown and duplicate fields as errors.
func decodeStrict(doc document, into any) []Problem {
	y, err := yaml.Marshal(doc.root)
	if err != nil {
		return []Problem{doc.problem("", "cannot re-encode document: "+err.Error())}
	}
	j, err := sigsyaml.YAMLToJSON(y)
	if err != nil {
		return []Problem{doc.problem("", "cannot convert to JSON: "+err.Error())}
	}
	strictErrs, err := sigsjson.UnmarshalStrict(j, into)
	if err != nil {
		return []Problem{typeProblem(doc, j, err)}
	}
	problems := make([]Problem, 0, len(strictErrs))
	for _, e := range strictErrs {
		var fe sigsjson.FieldError
		if !errors.As(e, &fe) {
			problems = append(problems, doc.problem("", e.Error()))
			continue
		}
		reason, _, _ := strings.Cut(e.Error(), ` "`)
		problems = append(problems, doc.problem(fieldPath(fe.FieldPath()), reason))
	}
	return problems
}

// typeProblem places a JSON decoding error on its field. The decoder names
// the field without sequence indices, and with the Go names of embedded
// structs (such as Gateway API's BackendRef), so the path is recovered
// from the error's offset into the JSON text when the two agree.
func typeProblem(doc document, j []byte, err error) Problem {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return doc.problem("", strings.TrimPrefix(err.Error(), "json: "))
	}
	reason := "cannot use " + te.Value + " as " + te.Type.String()
	path := fieldPath(te.Field)
	if p, ok := jsonPathAt(j, te.Offset); ok && (stripIndices(p) == te.Field || stripIndices(p) == withoutEmbedded(te.Field)) {
		path = p
	}
	return doc.problem(path, reason)
}

// withoutEmbedded drops the Go names of embedded structs from a field
// path of encoding/json: the API types' JSON names start in lower case.
func withoutEmbedded(field string) string {
	parts := strings.Split(field, ".")
	kept := parts[:0]
	for _, p := range parts {
		if p == "" || !unicode.IsUpper(rune(p[0])) {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ".")
}

var indices = regexp.MustCompile(`\[\d+\]`)

func stripIndices(p fieldPath) string { return indices.ReplaceAllString(string(p), "") }

// jsonPathAt returns the path of the JSON value that ends at offset, or of
// the array or object that opens just before it: where encoding/json puts
// the Offset of an UnmarshalTypeError.
func jsonPathAt(data []byte, offset int64) (fieldPath, bool) {
	type frame struct {
		object  bool
		key     string
		haveKey bool
		index   int
	}
	var stack []*frame
	pathOf := func() fieldPath {
		var p fieldPath
		for _, f := range stack {
			switch {
			case !f.object:
				p = p.index(f.index)
			case f.haveKey:
				p = p.key(f.key)
			}
		}
		return p
	}
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		if f := stack[len(stack)-1]; f.object {
			f.haveKey = false
		} else {
			f.index++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{', '[':
				if dec.InputOffset() >= offset {
					return pathOf(), true
				}
				stack = append(stack, &frame{object: tok == '{'})
			default:
				stack = stack[:len(stack)-1]
				if dec.InputOffset() >= offset {
					return pathOf(), true
				}
				valueDone()
			}
		case string:
			if top != nil && top.object && !top.haveKey {
				top.key, top.haveKey = tok, true
				continue
			}
			if dec.InputOffset() >= offset {
				return pathOf(), true
			}
			valueDone()
		default:
			if dec.InputOffset() >= offset {
				return pathOf(), true
			}
			valueDone()
		}
	}
}
