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

// loginPath is rally/config.json in the user's config directory. XDG_CONFIG_HOME wins
// on every system (os.UserConfigDir ignores it on macOS), so that tests and people who
// keep their configuration elsewhere can choose the place.
func loginPath() (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(dir) {
		var err error
		if dir, err = os.UserConfigDir(); err != nil {
			return "", fmt.Errorf("cannot find your config directory: %w", err)
		}
	}
	return filepath.Join(dir, "rally", "config.json"), nil
}

// loadLogin returns the saved login, or nil when there is none.
func loadLogin() (*savedLogin, error) {
	path, err := loginPath()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var l savedLogin
	if err := json.Unmarshal(data, &l); err != nil || l.Server == "" || l.Token == "" {
		return nil, fmt.Errorf("%s is damaged: run `rally logout`, then `rally login`", path)
	}
	return &l, nil
}

// saveLogin writes the login readable by the user only: the directory 0700, the file
// 0600 from the moment it exists (os.CreateTemp), renamed into place so that a crash
// never leaves half a file.
func saveLogin(l savedLogin) (string, error) {
	path, err := loginPath()
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o700); err != nil { // it may have existed with wider access
		return "", err
	}
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "config-*.json")
	if err != nil {
		return "", err
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
		return "", err
	}
	return path, nil
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
