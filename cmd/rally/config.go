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

// savedRSVP is the manage token of one RSVP, with the server it was made on and the TLS
// settings to reach it.
type savedRSVP struct {
	Name string `json:"name"` // events/{event}/rsvps/{rsvp}
	savedLogin
}

// savedRSVPs is what `rally rsvp create` keeps: the manage tokens of the RSVPs made here.
type savedRSVPs struct {
	RSVPs []savedRSVP `json:"rsvps"`
}

// find returns the RSVP saved under its name for a server, or nil.
func (s *savedRSVPs) find(server, name string) *savedRSVP {
	for i, r := range s.RSVPs {
		if r.Server == server && r.Name == name {
			return &s.RSVPs[i]
		}
	}
	return nil
}

// onlyServer returns the server an RSVP is saved for, or "" when it is saved for none or
// for several.
func (s *savedRSVPs) onlyServer(name string) string {
	server := ""
	for _, r := range s.RSVPs {
		if r.Name == name {
			if server != "" {
				return ""
			}
			server = r.Server
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

// rsvpsPath is where the RSVPs' manage tokens are saved, next to the login.
func rsvpsPath() (string, error) { return configPath("rsvps.json") }

// configFile is the content of a saved file, which can tell whether it is complete.
type configFile interface{ complete() bool }

func (l *savedLogin) complete() bool { return l.Server != "" && l.Token != "" }

func (s *savedRSVPs) complete() bool {
	for _, r := range s.RSVPs {
		if r.Name == "" || !r.complete() {
			return false
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

// loadRSVPs returns the saved manage tokens, none when there is no file.
func loadRSVPs() (*savedRSVPs, string, error) {
	path, err := rsvpsPath()
	if err != nil {
		return nil, "", err
	}
	var s savedRSVPs
	if _, err := readConfig(path, &s, "repair it, or move it away (its manage tokens are the only way to manage those RSVPs)"); err != nil {
		return nil, "", err
	}
	return &s, path, nil
}

// saveRSVP adds or replaces the manage token of an RSVP. Two rally processes saving at
// the same moment could each miss the other's token; create prints it for that reason.
func saveRSVP(r savedRSVP) (string, error) {
	s, path, err := loadRSVPs()
	if err != nil {
		return "", err
	}
	if old := s.find(r.Server, r.Name); old != nil {
		*old = r
	} else {
		s.RSVPs = append(s.RSVPs, r)
	}
	return path, writePrivate(path, s)
}

// forgetRSVP deletes the manage tokens of an RSVP, on one server or, for server "", on
// all, and returns the servers they were for.
func forgetRSVP(server, name string) ([]string, error) {
	s, path, err := loadRSVPs()
	if err != nil {
		return nil, err
	}
	var servers []string
	kept := s.RSVPs[:0]
	for _, r := range s.RSVPs {
		if r.Name == name && (server == "" || r.Server == server) {
			servers = append(servers, r.Server)
		} else {
			kept = append(kept, r)
		}
	}
	if len(servers) == 0 {
		return nil, nil
	}
	s.RSVPs = kept
	return servers, writePrivate(path, s)
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
