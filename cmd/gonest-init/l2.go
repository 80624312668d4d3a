package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
	"github.com/gonest/gonest/scenario"
	"golang.org/x/term"
)

const l2Usage = `Usage: l2 [-m SIZE] [-scenario NAME] [-timeout DURATION]

Boot the next level (G2 when typed in G1) with gonest, from the images
mounted at %s, and wait for its verdict: G2 says hello and
powers off. The exit status is G2's verdict (0 pass), or gonest's own
exit code when gonest fails.

Flags:
`

// l2Main is /bin/l2: the one command that boots the next level with
// gonest. With a terminal it hands it to the next level as it is;
// otherwise (a scenario runs it) the next level's console is prefixed
// with its name. Its own messages go to stderr.
func l2Main(args []string) int {
	log := initkit.NewLogger(os.Stderr, "l2: ")
	fs := flag.NewFlagSet(scenario.L2Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	mem := fs.String("m", "256M", "memory for the next level")
	name := fs.String("scenario", "hello", "the next level's gonest.scenario")
	timeout := fs.Duration("timeout", 5*time.Minute, "gonest -timeout")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stdout, l2Usage, guestabi.NextDir)
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(os.Stderr, "l2: %v (see l2 -h)\n", err)
		return 2
	}
	memory, err := launch.ParseMemory(*mem)
	if err != nil {
		fmt.Fprintf(os.Stderr, "l2: -m: %v\n", err)
		return 2
	}
	params, _ := initkit.ReadCmdline()
	env := &scenario.Env{Log: log, Console: os.Stdout, Level: params[guestabi.ParamLevel], Params: params}
	if env.Level == "" {
		env.Level = "G1"
	}
	ctx := context.Background()
	if _, err := os.Stat("/dev/kvm"); err != nil {
		log.Error("no /dev/kvm here, so no guest can be booted: is this CPU's svm/vmx hidden (gonest -nested off)?", "level", env.Level)
		return int(guestabi.NoKVM)
	}
	if err := initkit.MountNextImages(ctx, log, initkit.NextImagesWait); err != nil {
		log.Error("the next level's images are missing", "err", err)
		return int(guestabi.SetupError)
	}
	spec := env.NextSpec(ctx, *name, memory)
	spec.VMM = launch.Gonest{Binary: guestabi.GonestBinary}
	spec.Timeout = *timeout
	spec.Interactive = term.IsTerminal(int(os.Stdin.Fd()))
	log.Info("booting "+spec.Level+" inside "+env.Level+" with gonest", "scenario", *name)
	start := time.Now()
	res, err := env.Launch(ctx, spec, nil)
	if err != nil {
		log.Error(spec.Level+" gave no verdict", "err", err)
		if res.ExitCode > 0 {
			return res.ExitCode
		}
		return 1
	}
	log.Info(spec.Level+" finished", "verdict", res.Verdict, "took", time.Since(start).Round(100*time.Millisecond))
	return int(res.Verdict)
}
