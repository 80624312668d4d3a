package doctor

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"syscall"
)

// deviceNode describes dev/kvm under fsys the way ls -l does, with owner
// and group names from etc/passwd and etc/group: "/dev/kvm crw-rw----
// root:kvm". It returns "" when dev/kvm cannot be examined. Knowing the
// group tells a user which group to join when the open fails with EACCES.
func deviceNode(fsys fs.FS) string {
	fi, err := fs.Stat(fsys, "dev/kvm")
	if err != nil {
		return ""
	}
	mode := fi.Mode()
	kind := "-"
	switch {
	case mode&fs.ModeCharDevice != 0:
		kind = "c"
	case mode&fs.ModeDevice != 0:
		kind = "b"
	case mode.IsDir():
		kind = "d"
	}
	desc := "/dev/kvm " + kind + mode.Perm().String()[1:]
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		desc += " " + idName(fsys, "etc/passwd", st.Uid) + ":" + idName(fsys, "etc/group", st.Gid)
	}
	if kind != "c" {
		desc += " (not a character device)"
	}
	return desc
}

// idName looks id up in a passwd- or group-format file (name:x:id:...),
// falling back to the number.
func idName(fsys fs.FS, file string, id uint32) string {
	want := strconv.FormatUint(uint64(id), 10)
	data, err := fs.ReadFile(fsys, file)
	if err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			f := strings.Split(sc.Text(), ":")
			if len(f) >= 3 && f[2] == want && f[0] != "" {
				return f[0]
			}
		}
	}
	return fmt.Sprint(id)
}
