package server

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/rallyhq/rally/gen/go/rally/v1"
)

// TestMethodAccess checks that methodAccess names every method of Rally's services, and
// nothing else: a new method must say who may call it.
func TestMethodAccess(t *testing.T) {
	seen := map[string]bool{}
	protoregistry.GlobalFiles.RangeFilesByPackage("rally.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				m := "/" + string(sd.FullName()) + "/" + string(sd.Methods().Get(j).Name())
				seen[m] = true
				if a, ok := methodAccess[m]; !ok || a.rule == "" {
					t.Errorf("%s: no entry with a rule in methodAccess", m)
				}
			}
		}
		return true
	})
	for m := range methodAccess {
		if !seen[m] {
			t.Errorf("methodAccess names %s, which no service has", m)
		}
	}
	if len(seen) == 0 {
		t.Fatal("no rally.v1 services registered")
	}
}
