// Command boot measures the site image under QEMU: the time from QEMU's
// start to init's ready line (and the part after /init started), for
// direct kernel boot and UEFI boot from the disk, on each board; the
// initramfs and disk sizes from the manifest; and the idle RSS of init and
// Skerry's services from the status API. It prints a Markdown table with
// medians, for docs/benchmarks.md.
//
//	go run ./tools/bench/boot -boards qemu-x86_64,qemu-arm64 -runs 5
//
// -baseline adds kernel parameters for a baseline of direct boots,
// alternated with the shipped image's boots in the same run so that the
// machine's noise falls on both alike:
//
//	go run ./tools/bench/boot -modes direct -baseline transparent_hugepage=always
//
// -min-memory finds instead, per board and boot mode, the least memory (in
// steps of -step MiB) with which a first boot (a fresh disk: /perm is
// formatted) reaches the ready line, by bisection between -lo and -hi:
//
//	go run ./tools/bench/boot -boards qemu-x86_64 -min-memory
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/skerry/skerry/board"
	"github.com/skerry/skerry/image"
	"github.com/skerry/skerry/qemu"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/health"
)

var readyRE = contract.ReadyLineRE

type sample struct {
	qemuToReady, kernelToReady, initToReady float64
	skerryRSS, skerryPSS, skerryAnon        int64
	containerdRSS                           int64
	mem                                     health.Memory
}

func main() {
	boards := flag.String("boards", "qemu-x86_64,qemu-arm64", "boards to measure, comma-separated")
	modes := flag.String("modes", "direct,uefi", "boot modes to measure, comma-separated")
	runs := flag.Int("runs", 5, "boots per board and mode")
	out := flag.String("out", "out", "mkimage's output directory")
	baseline := flag.String("baseline", "", "kernel parameters of a baseline measured alongside each direct boot (the board's command line plus these)")
	minMem := flag.Bool("min-memory", false, "find the least memory that boots to ready, per board and mode")
	lo := flag.Int("lo", 128, "-min-memory: a size in MiB known not to boot")
	hi := flag.Int("hi", 512, "-min-memory: a size in MiB known to boot")
	step := flag.Int("step", 16, "-min-memory: precision in MiB")
	flag.Parse()
	if *minMem {
		if err := minMemory(strings.Split(*boards, ","), strings.Split(*modes, ","), *out, *lo, *hi, *step); err != nil {
			fatal(err)
		}
		return
	}
	if *runs < 1 {
		fatal(fmt.Errorf("-runs %d: want at least one boot per board and mode", *runs))
	}
	fmt.Printf("| board | boot | runs | QEMU start → ready (median, min–max) | kernel start → ready | /init → ready | idle RSS init+Skerry services | same, PSS | same, anonymous | containerd RSS | RSS / PSS / anonymous per process, MB (last run) |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	var sizes, firsts []string
	for _, name := range strings.Split(*boards, ",") {
		b, err := board.Lookup(name)
		if err != nil {
			fatal(err)
		}
		dir := filepath.Join(*out, name)
		for _, mode := range strings.Split(*modes, ",") {
			direct := mode == "direct"
			variants := []string{""}
			if direct && *baseline != "" {
				variants = append(variants, *baseline)
			}
			// One disk and TPM per board, mode and variant: the first boot
			// formats /perm and is reported apart; the runs measure normal
			// boots, the variants taking turns.
			states := make([]string, len(variants))
			for v, extra := range variants {
				state, err := os.MkdirTemp("", "bench-boot")
				if err != nil {
					fatal(err)
				}
				defer os.RemoveAll(state)
				states[v] = state
				first, err := boot(b, dir, direct, extra, state)
				if err != nil {
					fatal(fmt.Errorf("%s %s first boot: %w", name, label(mode, extra), err))
				}
				firsts = append(firsts, fmt.Sprintf("| %s | %s | %.2f s | %.2f s |", name, label(mode, extra), first.qemuToReady, first.initToReady))
			}
			ss := make([][]sample, len(variants))
			for i := 0; i < *runs; i++ {
				for v, extra := range variants {
					s, err := boot(b, dir, direct, extra, states[v])
					if err != nil {
						fatal(fmt.Errorf("%s %s run %d: %w", name, label(mode, extra), i+1, err))
					}
					ss[v] = append(ss[v], s)
					fmt.Fprintf(os.Stderr, "%s %s run %d: %.2fs to ready\n", name, label(mode, extra), i+1, s.qemuToReady)
				}
			}
			for v, extra := range variants {
				row(name, label(mode, extra), ss[v])
			}
		}
		m, err := image.ReadManifest(filepath.Join(dir, image.ManifestFile))
		if err != nil {
			fatal(err)
		}
		var disk int64
		for _, f := range m.Files {
			if f.Name == image.DiskFile {
				disk = f.Size
			}
		}
		sizes = append(sizes, fmt.Sprintf("| %s | %.1f MB | %.1f MB | %.1f MB | %s |", name,
			float64(m.Initramfs.Compressed)/1e6, float64(m.Initramfs.Uncompressed)/1e6, float64(disk)/1e6, componentSizes(m)))
	}
	fmt.Printf("\nFirst boot (formats /perm), one run each:\n\n| board | boot | QEMU start → ready | /init → ready |\n|---|---|---|---|\n%s\n", strings.Join(firsts, "\n"))
	fmt.Printf("\n| board | initramfs (zstd) | initramfs (uncompressed) | disk image | largest parts (uncompressed) |\n|---|---|---|---|---|\n%s\n", strings.Join(sizes, "\n"))
}

func label(mode, extra string) string {
	if extra == "" {
		return mode
	}
	return mode + " +" + extra
}

// row prints one line of the main table: medians over ss.
func row(name, mode string, ss []sample) {
	q := col(ss, func(s sample) float64 { return s.qemuToReady })
	fmt.Printf("| %s | %s | %d | %.2f s (%.2f–%.2f) | %.2f s | %.2f s | %.1f MB | %.1f MB | %.1f MB | %.1f MB | %s |\n", name, mode, len(ss),
		median(q), q[0], q[len(q)-1],
		median(col(ss, func(s sample) float64 { return s.kernelToReady })),
		median(col(ss, func(s sample) float64 { return s.initToReady })),
		median(col(ss, func(s sample) float64 { return float64(s.skerryRSS) / 1e6 })),
		median(col(ss, func(s sample) float64 { return float64(s.skerryPSS) / 1e6 })),
		median(col(ss, func(s sample) float64 { return float64(s.skerryAnon) / 1e6 })),
		median(col(ss, func(s sample) float64 { return float64(s.containerdRSS) / 1e6 })),
		perProcess(ss[len(ss)-1].mem))
}

func perProcess(m health.Memory) string {
	var names []string
	for n := range m.RSSBytes {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.1f/%.1f/%.1f", n, float64(m.RSSBytes[n])/1e6, float64(m.PSSBytes[n])/1e6, float64(m.AnonBytes[n])/1e6))
	}
	return strings.Join(parts, ", ")
}

func componentSizes(m *image.Manifest) string {
	var parts []string
	for _, c := range m.Components {
		parts = append(parts, fmt.Sprintf("%s %.1f MB", c.Name, float64(c.Size)/1e6))
	}
	return strings.Join(parts, ", ")
}

// token opens the status API of the bench's disks to QEMU's forwarding.
var token = qemu.NewToken()

// boot starts one VM on the disk and TPM kept in state (the disk made on
// first use, with the bench's status API settings), waits for ready, lets
// it settle, reads the status API, and powers it off in order.
func boot(b *board.Board, dir string, direct bool, extra, state string) (sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	disk := filepath.Join(state, image.DiskFile)
	if _, err := os.Stat(disk); err != nil {
		if err := qemu.BenchDisk(filepath.Join(dir, image.DiskFile), disk, token); err != nil {
			return sample{}, err
		}
	}
	cfg := qemu.Config{Board: b, Disk: disk, DiskWrite: true,
		FirmwareVars: filepath.Join(state, "vars.fd"), TPM: &qemu.TPM{StateDir: filepath.Join(state, "tpm")}, Forwards: []int{qemu.BenchHealthPort}}
	if direct {
		cfg.Kernel, cfg.Initrd = filepath.Join(dir, image.VmlinuzFile), filepath.Join(dir, image.InitrdFile)
		if extra != "" {
			cfg.Append = b.Kernel.Cmdline + " " + extra
		}
	}
	vm, err := qemu.Start(ctx, cfg)
	if err != nil {
		return sample{}, err
	}
	defer vm.Close()
	m, err := vm.ExpectRegexp(ctx, readyRE)
	if err != nil {
		return sample{}, err
	}
	s := sample{qemuToReady: m.Since.Seconds()}
	s.kernelToReady, _ = strconv.ParseFloat(m.Groups[3], 64)
	s.initToReady, _ = strconv.ParseFloat(m.Groups[4], 64)
	// Idle: after the boot's burst settles.
	time.Sleep(10 * time.Second)
	st, err := status(ctx, vm.HostAddr(qemu.BenchHealthPort))
	if err != nil {
		return s, err
	}
	s.skerryRSS, s.skerryPSS, s.skerryAnon = st.Memory.SkerryRSSBytes, st.Memory.SkerryPSSBytes, st.Memory.SkerryAnonBytes
	s.containerdRSS, s.mem = st.Memory.RSSBytes["containerd"], st.Memory
	if err := vm.Powerdown(ctx); err != nil {
		return s, err
	}
	return s, vm.Wait(ctx)
}

func status(ctx context.Context, addr string) (*health.Status, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/health", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var st health.Status
	return &st, json.Unmarshal(body, &st)
}

// minMemory bisects, per board and mode, the least memory with which a
// first boot reaches ready, and prints a table.
func minMemory(boards, modes []string, out string, lo, hi, step int) error {
	fmt.Printf("| board | boot | least memory that boots to ready (first boot) | largest that does not | how it fails below |\n|---|---|---|---|---|\n")
	for _, name := range boards {
		b, err := board.Lookup(name)
		if err != nil {
			return err
		}
		dir := filepath.Join(out, name)
		for _, mode := range modes {
			l, h, why := lo, hi, "not seen"
			if ok, what := bootsWith(b, dir, mode == "direct", h); !ok {
				return fmt.Errorf("%s %s does not boot with -hi %d MiB: %s", name, mode, h, what)
			}
			for h-l > step {
				m := (l + h) / 2 / step * step
				if m <= l {
					m = l + step
				}
				ok, what := bootsWith(b, dir, mode == "direct", m)
				fmt.Fprintf(os.Stderr, "%s %s %d MiB: ok=%v %s\n", name, mode, m, ok, what)
				if ok {
					h = m
				} else {
					l, why = m, what
				}
			}
			fmt.Printf("| %s | %s | %d MiB | %d MiB | %s |\n", name, mode, h, l, why)
		}
	}
	return nil
}

// failRE is what a boot that will not make it prints.
var failRE = regexp.MustCompile(`init: FATAL: .*|Kernel panic.*|Out of memory.*`)

// bootsWith boots a fresh disk with mem MiB and says whether it reaches
// the ready line, or what stopped it.
func bootsWith(b *board.Board, dir string, direct bool, mem int) (bool, string) {
	state, err := os.MkdirTemp("", "bench-mem")
	if err != nil {
		return false, err.Error()
	}
	defer os.RemoveAll(state)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	disk := filepath.Join(state, image.DiskFile)
	if out, err := exec.Command("cp", "--sparse=always", filepath.Join(dir, image.DiskFile), disk).CombinedOutput(); err != nil {
		return false, fmt.Sprintf("copy disk: %v: %s", err, out)
	}
	cfg := qemu.Config{Board: b, Disk: disk, DiskWrite: true, MemoryMiB: mem, NoReboot: true, TPM: &qemu.TPM{}}
	if direct {
		cfg.Kernel, cfg.Initrd = filepath.Join(dir, image.VmlinuzFile), filepath.Join(dir, image.InitrdFile)
	}
	vm, err := qemu.Start(ctx, cfg)
	if err != nil {
		return false, err.Error()
	}
	defer vm.Close()
	m, err := vm.ExpectRegexp(ctx, regexp.MustCompile(readyRE.String()+"|"+failRE.String()))
	if err != nil {
		return false, err.Error()
	}
	if failRE.MatchString(m.Line) && !readyRE.MatchString(m.Line) {
		return false, strings.TrimSpace(m.Line)
	}
	return true, ""
}

func col(ss []sample, f func(sample) float64) []float64 {
	var out []float64
	for _, s := range ss {
		out = append(out, f(s))
	}
	sort.Float64s(out)
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "bench boot: %v\n", err)
	os.Exit(1)
}
