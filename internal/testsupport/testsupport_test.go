package testsupport

import (
	"os"
	"testing"
)

// Dir is traversable by other users and gone after the test.
func TestDir(t *testing.T) {
	var dir string
	t.Run("use", func(t *testing.T) {
		dir = Dir(t)
		st, err := os.Stat(dir)
		if err != nil || st.Mode().Perm() != 0o755 {
			t.Fatalf("%s: %v %v", dir, st.Mode(), err)
		}
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left after the test: %v", dir, err)
	}
}
