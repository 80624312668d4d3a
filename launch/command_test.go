package launch

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/syncbuf"
)

// wiringFor is a Wiring for building a command outside Run.
func wiringFor(t *testing.T, s *Spec) *Wiring {
	w := s.wiring(&recorder{}, t.TempDir())
	t.Cleanup(w.finish)
	return w
}

func TestGonestCommand(t *testing.T) {
	s := Spec{VMM: Gonest{Binary: "/bin/gonest", Forward: true}, Kernel: "/n/vmlinuz", Initrd: "/n/initrd", Memory: 1 << 30,
		CPUs: 2, Disks: []Disk{{Path: "/n/next.ext4", ReadOnly: true}, {Path: "/dev/vda", Serial: "blk-rw.ext4"},
			{Path: "/tmp/ide.img", Serial: "ide0", IDE: true}},
		Nested: "off", Stats: true, StatsJSON: true, NestedState: true, Timeout: 100 * time.Second,
		Window: "+1 measure start..+1 measure end", TraceExits: true, StatsInterval: 500 * time.Millisecond,
		Scenario: "boot", Level: "G1", GuestTimeout: 80 * time.Second, Append: "quiet"}
	w := wiringFor(t, &s)
	cmd, err := s.VMM.Command(context.Background(), &s, w)
	require.NoError(t, err)
	assert.Equal(t, "/bin/gonest run -m 1G -kernel /n/vmlinuz -initrd /n/initrd -smp 2"+
		" -disk /n/next.ext4,ro -disk /dev/vda,serial=blk-rw.ext4 -disk /tmp/ide.img,serial=ide0,if=ide -nested off"+
		" -stats -stats-json "+filepath.Join(w.Dir(), "stats.json")+" -nested-state"+
		" -window +1 measure start..+1 measure end -trace-exits -stats-interval 500ms -timeout 1m30s"+
		" -messages /proc/self/fd/3 -forward -append gonest.scenario=boot gonest.level=G1 gonest.timeout=1m20s quiet",
		strings.Join(cmd.Args, " "), "gonest stops at 90%% of the timeout, the guest at its own")
	assert.Len(t, cmd.ExtraFiles, 1, "the message pipe is fd 3")
	assert.Contains(t, cmd.Args, "+1 measure start..+1 measure end", "the window spec is one argument")

	tiny := Spec{VMM: Gonest{}, Kernel: "/t/tiny.elf", Memory: 16 << 20}
	cmd, err = tiny.VMM.Command(context.Background(), &tiny, wiringFor(t, &tiny))
	require.NoError(t, err)
	assert.Equal(t, "gonest run -m 16M -kernel /t/tiny.elf -messages /proc/self/fd/3", strings.Join(cmd.Args, " "))
}

func TestQEMUCommand(t *testing.T) {
	s := Spec{VMM: QEMU{Binary: "/usr/bin/qemu-system-x86_64", Machine: "microvm,pcie=on"}, Kernel: "/n/vmlinuz",
		Initrd: "/n/initrd", Memory: 512 << 20, Disks: []Disk{{Path: "/tmp/b.img", ReadOnly: true, Serial: "bench-blk"}},
		Scenario: "bench-blk-g1", Level: "G1", Append: "quiet"}
	w := wiringFor(t, &s)
	cmd, err := s.VMM.Command(context.Background(), &s, w)
	require.NoError(t, err)
	got := strings.Join(cmd.Args, " ")
	assert.True(t, strings.HasPrefix(got, "/usr/bin/qemu-system-x86_64 -M microvm,pcie=on -enable-kvm -cpu host -m 512M -smp 1"+
		" -nodefaults -no-user-config -display none -no-reboot -serial stdio -monitor none -kernel /n/vmlinuz -initrd /n/initrd"+
		" -append console=ttyS0 earlyprintk=ttyS0 reboot=k panic=-1 i8042.noaux gonest.scenario=bench-blk-g1 gonest.level=G1 quiet"+
		" -device isa-debug-exit,iobase=0xf4,iosize=0x04 -chardev socket,id=markers,path="), got)
	assert.Contains(t, got, " -device isa-debugcon,iobase=0xf8,chardev=markers -chardev socket,id=messages,path=")
	assert.True(t, strings.HasSuffix(got, " -device isa-debugcon,iobase=0xe9,chardev=messages"+
		" -drive file=/tmp/b.img,if=none,id=disk0,format=raw,readonly=on -device virtio-blk-pci,drive=disk0,serial=bench-blk"), got)
}

// TestQEMUCommandThroughLoader: a QEMU unpacked away from / runs through
// its own dynamic loader and finds its firmware with -L.
func TestQEMUCommandThroughLoader(t *testing.T) {
	s := Spec{VMM: QEMU{Binary: "/q/usr/bin/qemu-system-x86_64", DataDir: "/q/usr/share/qemu",
		Loader: []string{"/q/lib64/ld-linux-x86-64.so.2", "--library-path", "/q/lib/x86_64-linux-gnu"}},
		Kernel: "/n/vmlinuz", Memory: 256 << 20}
	cmd, err := s.VMM.Command(context.Background(), &s, wiringFor(t, &s))
	require.NoError(t, err)
	got := strings.Join(cmd.Args, " ")
	assert.Equal(t, "/q/lib64/ld-linux-x86-64.so.2", cmd.Path)
	assert.True(t, strings.HasPrefix(got, "/q/lib64/ld-linux-x86-64.so.2 --library-path /q/lib/x86_64-linux-gnu"+
		" /q/usr/bin/qemu-system-x86_64 -M microvm -enable-kvm"), got)
	assert.Contains(t, got, " -monitor none -L /q/usr/share/qemu -kernel /n/vmlinuz ")
}

// TestSocketsDrainedAfterExit is the reader's side of a race a loaded host
// showed: QEMU connects, writes its markers and messages and exits before
// the reader goroutine has accepted; finish must still collect them all.
func TestSocketsDrainedAfterExit(t *testing.T) {
	line, err := guestabi.EncodeMessage(guestabi.VerdictMessage(guestabi.Fail))
	require.NoError(t, err)
	for i := range 20 {
		s := Spec{VMM: QEMU{}, Level: "H"}
		rec := &recorder{}
		w := s.wiring(rec, t.TempDir())
		markers, err := w.MarkerSocket()
		require.NoError(t, err)
		messages, err := w.MessageSocket()
		require.NoError(t, err)
		for _, c := range []struct {
			path string
			data []byte
		}{{markers, []byte{1, 2, 0x43, 4}}, {messages, append([]byte("BIOS text\n"), line...)}} {
			conn, err := net.Dial("unix", c.path)
			require.NoError(t, err)
			_, err = conn.Write(c.data)
			require.NoError(t, err)
			require.NoError(t, conn.Close())
		}
		w.finish()
		require.Len(t, rec.marks, 4, "run %d", i)
		assert.Equal(t, Mark{Marker: guestabi.MarkerScenarioStart, Depth: 1, At: rec.marks[2].At}, rec.marks[2])
		require.Len(t, rec.msgs, 1, "run %d", i)
		require.NotNil(t, rec.verdict)
		assert.Equal(t, guestabi.Fail, *rec.verdict)
	}
}

func TestSocketsWithoutConnection(t *testing.T) {
	s := Spec{VMM: QEMU{}}
	w := s.wiring(&recorder{}, t.TempDir())
	_, err := w.MarkerSocket()
	require.NoError(t, err)
	start := time.Now()
	w.finish()
	assert.Less(t, time.Since(start), acceptGrace+5*time.Second, "a VMM that never connected costs at most the grace")
}

// TestConsolePipe: a VMM that writes the guest's serial port to a file
// given as a path gets a pipe into the console.
func TestConsolePipe(t *testing.T) {
	s := Spec{VMM: QEMU{}, Level: "G1"}
	w := s.wiring(&recorder{}, t.TempDir())
	cmd := exec.Command("sh", "-c", `echo "from the serial file" > "$0"`)
	path, err := w.ConsolePipe(cmd)
	require.NoError(t, err)
	assert.Equal(t, "/proc/self/fd/3", path)
	cmd.Args = append(cmd.Args, path)
	require.NoError(t, cmd.Start())
	w.started()
	require.NoError(t, cmd.Wait())
	w.finish()
	tails := map[string][]string{}
	w.console.copyTails(tails)
	assert.Equal(t, map[string][]string{"G1": {"from the serial file"}}, tails)
}

// TestPipe: a VMM's own file, written while it runs, reaches the writer
// the VMM gave.
func TestPipe(t *testing.T) {
	s := Spec{VMM: QEMU{}, Level: "G1"}
	w := s.wiring(&recorder{}, t.TempDir())
	var log syncbuf.Buffer
	cmd := exec.Command("sh", "-c", `echo "first" > "$0"; echo "last" >> "$1"`)
	console, err := w.ConsolePipe(cmd)
	require.NoError(t, err)
	path, err := w.Pipe(cmd, &log)
	require.NoError(t, err)
	assert.Equal(t, "/proc/self/fd/4", path, "after the console's")
	cmd.Args = append(cmd.Args, console, path)
	require.NoError(t, cmd.Start())
	w.started()
	require.NoError(t, cmd.Wait())
	w.finish()
	assert.Equal(t, "last\n", log.String())
}
