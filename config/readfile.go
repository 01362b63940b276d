package config

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// Size limits of the files a config reads. A config or rules file is text written by hand;
// a secret is a token or a key. Anything larger is a mistake (a log, a disk image, /dev/zero)
// and is refused before it is read into memory.
const (
	MaxConfigSize = 4 << 20  // the config file, and each controls.rules / frameworks file
	MaxSecretSize = 64 << 10 // a *_file secret
)

// ReadFile reads the regular file at path, at most max bytes. Anything else is an error
// (an *os.PathError) that says what it is: a device (/dev/zero), a FIFO (which would block until a writer
// comes), a directory, or a file larger than max. The file is opened without blocking and
// checked on the open descriptor, so a FIFO swapped in after a check cannot hang the read.
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("not a regular file (%s)", fileKind(st.Mode()))}
	}
	if st.Size() > max {
		return nil, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%d bytes, more than the %d a file here may have", st.Size(), max)}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max { // it grew while being read
		return nil, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("more than the %d bytes a file here may have", max)}
	}
	return data, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	default:
		return m.Type().String()
	}
}
