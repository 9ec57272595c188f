package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// savedLogin is what `rally login` keeps: the server and the token to use there.
type savedLogin struct {
	Server string `json:"server"`
	Token  string `json:"token"`
	TLS    bool   `json:"tls,omitempty"`
	TLSCA  string `json:"tls_ca,omitempty"`
}

// savedToken is the token of one RSVP or claim, with the server it was made on and the
// TLS settings to reach it.
type savedToken struct {
	Name string `json:"name"` // such as events/{event}/rsvps/{rsvp}
	savedLogin
}

// savedTokens is the content of a holding's file, its tokens under its key:
// {"rsvps": [...]} in rsvps.json.
type savedTokens map[string]tokenList

// tokenList is the tokens saved for one kind of holding.
type tokenList []savedToken

// find returns the token saved under its name for a server, or nil.
func (l tokenList) find(server, name string) *savedToken {
	for i, t := range l {
		if t.Server == server && t.Name == name {
			return &l[i]
		}
	}
	return nil
}

// onlyServer returns the server a token is saved for, or "" when it is saved for none or
// for several.
func (l tokenList) onlyServer(name string) string {
	server := ""
	for _, t := range l {
		if t.Name == name {
			if server != "" {
				return ""
			}
			server = t.Server
		}
	}
	return server
}

// configPath returns rally/file in the user's config directory. XDG_CONFIG_HOME wins
// on every system (os.UserConfigDir ignores it on macOS), so that tests and people who
// keep their configuration elsewhere can choose the place.
func configPath(file string) (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(dir) {
		var err error
		if dir, err = os.UserConfigDir(); err != nil {
			return "", fmt.Errorf("cannot find your config directory: %w", err)
		}
	}
	return filepath.Join(dir, "rally", file), nil
}

// loginPath is where the login is saved: rally/config.json in the config directory.
func loginPath() (string, error) { return configPath("config.json") }

// configFile is the content of a saved file, which can tell whether it is complete.
type configFile interface{ complete() bool }

func (l *savedLogin) complete() bool { return l.Server != "" && l.Token != "" }

func (s *savedTokens) complete() bool {
	for _, l := range *s {
		for _, t := range l {
			if t.Name == "" || !t.complete() {
				return false
			}
		}
	}
	return true
}

// readConfig decodes the file at path into v; it reports false when there is no file.
// A file that is not JSON, or not complete, is damaged: fix says what to do about it.
func readConfig(path string, v configFile, fix string) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil || !v.complete() {
		return false, fmt.Errorf("%s is damaged: %s", path, fix)
	}
	return true, nil
}

// loadLogin returns the saved login, or nil when there is none.
func loadLogin() (*savedLogin, error) {
	path, err := loginPath()
	if err != nil {
		return nil, err
	}
	var l savedLogin
	found, err := readConfig(path, &l, "run `rally logout`, then `rally login`")
	if !found {
		return nil, err
	}
	return &l, nil
}

// saveLogin writes the login readable by the user only.
func saveLogin(l savedLogin) (string, error) {
	path, err := loginPath()
	if err != nil {
		return "", err
	}
	return path, writePrivate(path, l)
}

// load returns the tokens saved for h, none when there is no file.
func (h *holding) load() (tokenList, string, error) {
	path, err := configPath(h.file)
	if err != nil {
		return nil, "", err
	}
	var s savedTokens
	fix := fmt.Sprintf("repair it, or move it away (its %ss are the only way to act on those %ss)", h.token, h.noun)
	if _, err := readConfig(path, &s, fix); err != nil {
		return nil, "", err
	}
	return s[h.key], path, nil
}

// save adds or replaces the token of an RSVP or claim. Two rally processes saving at the
// same moment could each miss the other's token; the command that gets it prints it for
// that reason.
func (h *holding) save(t savedToken) (string, error) {
	l, path, err := h.load()
	if err != nil {
		return "", err
	}
	if old := l.find(t.Server, t.Name); old != nil {
		*old = t
	} else {
		l = append(l, t)
	}
	return path, writePrivate(path, savedTokens{h.key: l})
}

// forget deletes the tokens saved for name, on one server or, for server "", on all, and
// returns the servers they were for.
func (h *holding) forget(server, name string) ([]string, error) {
	l, path, err := h.load()
	if err != nil {
		return nil, err
	}
	var servers []string
	kept := l[:0]
	for _, t := range l {
		if t.Name == name && (server == "" || t.Server == server) {
			servers = append(servers, t.Server)
		} else {
			kept = append(kept, t)
		}
	}
	if len(servers) == 0 {
		return nil, nil
	}
	return servers, writePrivate(path, savedTokens{h.key: kept})
}

// writePrivate writes v as JSON readable by the user only: the directory 0700, the file
// 0600 from the moment it exists (os.CreateTemp), renamed into place so that a crash
// never leaves half a file.
func writePrivate(path string, v any) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil { // it may have existed with wider access
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(append(data, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// removeLogin deletes the saved login; it reports whether there was one.
func removeLogin() (path string, removed bool, err error) {
	if path, err = loginPath(); err != nil {
		return "", false, err
	}
	err = os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, false, nil
	}
	return path, err == nil, err
}
