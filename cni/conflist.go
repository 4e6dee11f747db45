package cni

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The node's CNI configuration, as runtimes read it: files with these
// extensions in the configuration directory, the first by name wins.
var confExtensions = []string{".conf", ".conflist", ".json"}

// pluginEntry is weft-cni's element of a conflist's plugins.
type pluginEntry struct {
	Type       string `json:"type"`
	Kubeconfig string `json:"kubeconfig"`
}

// confFiles lists the directory's CNI configuration files, by name.
func confFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("CNI configuration directory: %w", err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && slices.Contains(confExtensions, filepath.Ext(e.Name())) && !strings.HasPrefix(e.Name(), ".") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(files)
	return files, nil
}

// confDoc is a CNI configuration file, its fields kept as written.
type confDoc map[string]json.RawMessage

func parseConfDoc(data []byte) (confDoc, error) {
	var doc confDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return doc, nil
}

// isList says whether doc is a conflist (it has plugins).
func (d confDoc) isList() bool {
	_, ok := d["plugins"]
	return ok
}

// toList turns a single-plugin configuration into a conflist holding it,
// as libcni does when it loads a .conf.
func (d confDoc) toList() (confDoc, error) {
	plugin := confDoc{}
	list := confDoc{}
	for k, v := range d {
		switch k {
		case "name":
			list[k] = v
		case "cniVersion":
			list[k], plugin[k] = v, v
		default:
			plugin[k] = v
		}
	}
	raw, err := json.Marshal(plugin)
	if err != nil {
		return nil, err
	}
	list["plugins"], err = json.Marshal([]json.RawMessage{raw})
	return list, err
}

func (d confDoc) plugins() ([]json.RawMessage, error) {
	var plugins []json.RawMessage
	if err := json.Unmarshal(d["plugins"], &plugins); err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	return plugins, nil
}

func (d confDoc) setPlugins(plugins []json.RawMessage) error {
	raw, err := json.Marshal(plugins)
	d["plugins"] = raw
	return err
}

func (d confDoc) marshal() ([]byte, error) {
	out, err := json.MarshalIndent(d, "", "  ")
	return append(out, '\n'), err
}

// isWeft says whether a plugin entry is weft-cni's.
func isWeft(plugin json.RawMessage) bool {
	var p struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(plugin, &p) == nil && p.Type == PluginType
}

// withPlugin returns the conflist with entry last among its plugins,
// replacing any other weft-cni entry; changed is false when it was there
// already, exactly.
func withPlugin(doc confDoc, entry pluginEntry) (changed bool, err error) {
	want, err := json.Marshal(entry)
	if err != nil {
		return false, err
	}
	plugins, err := doc.plugins()
	if err != nil {
		return false, err
	}
	kept := plugins[:0:0]
	found := false
	for _, p := range plugins {
		if !isWeft(p) {
			kept = append(kept, p)
			continue
		}
		var compact bytes.Buffer
		if json.Compact(&compact, p) == nil && bytes.Equal(compact.Bytes(), want) && !found {
			found = true
			kept = append(kept, p)
		}
	}
	if found && len(kept) == len(plugins) {
		return false, nil
	}
	if !found {
		kept = append(kept, want)
	}
	return true, doc.setPlugins(kept)
}

// withoutPlugin removes every weft-cni entry; changed is false when there
// was none.
func withoutPlugin(doc confDoc) (changed bool, err error) {
	plugins, err := doc.plugins()
	if err != nil {
		return false, err
	}
	kept := slices.DeleteFunc(slices.Clone(plugins), isWeft)
	if len(kept) == len(plugins) {
		return false, nil
	}
	return true, doc.setPlugins(kept)
}

// writeAtomic replaces path with data: a reader sees the old file or the
// new, never half of one. The temporary file's name starts with a dot, so
// a runtime listing the directory meanwhile ignores it.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
