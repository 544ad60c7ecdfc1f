//go:build !unix

package hotlog

import (
	"fmt"
	"os"
)

func lockFile(*os.File) error {
	return fmt.Errorf("hotlog: LOCK files need flock, which this platform lacks")
}
