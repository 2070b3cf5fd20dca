package health

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/services/contract"
)

// Memory is the machine's memory and what Skerry itself uses.
type Memory struct {
	TotalBytes     int64 `json:"totalBytes"`
	AvailableBytes int64 `json:"availableBytes"`
	// SkerryRSSBytes is the resident memory of init and Skerry's own
	// services (containerd and workloads not counted).
	SkerryRSSBytes int64            `json:"skerryRssBytes"`
	RSSBytes       map[string]int64 `json:"rssBytes"` // per process: init, health, containerd, ...
	// SkerryPSSBytes is the same processes' proportional set size: pages
	// shared between them (the one skerry binary's text, mapped by every
	// service) are counted once in all, not once per process as RSS does.
	SkerryPSSBytes int64            `json:"skerryPssBytes"`
	PSSBytes       map[string]int64 `json:"pssBytes"`
	// SkerryAnonBytes is the same processes' anonymous memory (heaps,
	// stacks): what they add to the machine. The rest of their RSS is the
	// pages of their binaries, which live in the tmpfs root (counted in
	// the image's size) whether or not a process maps them.
	SkerryAnonBytes int64            `json:"skerryAnonBytes"`
	AnonBytes       map[string]int64 `json:"anonBytes"`
}

// Perm is /perm's state and usage.
type Perm struct {
	contract.Perm
	TotalBytes int64 `json:"totalBytes,omitempty"`
	UsedBytes  int64 `json:"usedBytes,omitempty"`
	FreeBytes  int64 `json:"freeBytes,omitempty"`
}

// thirdParty are supervised programs that are not Skerry's own.
var thirdParty = map[string]bool{"containerd": true}

func memory(services []contract.ServiceStatus) Memory {
	m := Memory{RSSBytes: map[string]int64{}, PSSBytes: map[string]int64{}, AnonBytes: map[string]int64{}}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			switch k {
			case "MemTotal":
				m.TotalBytes = kb(v)
			case "MemAvailable":
				m.AvailableBytes = kb(v)
			}
		}
		f.Close()
	}
	add := func(name string, pid int) {
		p := processMemory(pid)
		m.RSSBytes[name], m.PSSBytes[name], m.AnonBytes[name] = p.rss, p.pss, p.anon
		if !thirdParty[name] {
			m.SkerryRSSBytes += p.rss
			m.SkerryPSSBytes += p.pss
			m.SkerryAnonBytes += p.anon
		}
	}
	add("init", 1)
	for _, s := range services {
		if s.PID > 0 {
			add(s.Name, s.PID)
		}
	}
	return m
}

type procMem struct{ rss, pss, anon int64 }

// processMemory returns a process's resident and proportional set sizes and
// its anonymous memory, in bytes. All come from one read of smaps_rollup, so
// they describe the same moment and PSS never exceeds RSS; where smaps_rollup
// cannot be read (another user's process) the RSS and anonymous memory come
// from status and the PSS is left 0.
func processMemory(pid int) procMem {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	if data, err := os.ReadFile(dir + "smaps_rollup"); err == nil {
		p := procMem{lineKB(data, "Rss:"), lineKB(data, "Pss:"), lineKB(data, "Anonymous:")}
		if p.rss > 0 {
			return p
		}
	}
	data, _ := os.ReadFile(dir + "status")
	return procMem{rss: lineKB(data, "VmRSS:"), anon: lineKB(data, "RssAnon:")}
}

// lineKB finds the "Key:   N kB" line of a /proc file's contents, in bytes.
func lineKB(data []byte, key string) int64 {
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			return kb(v)
		}
	}
	return 0
}

func kb(v string) int64 {
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(f[0], 10, 64)
	return n * 1024
}

func perm(dir string, p contract.Perm) Perm {
	out := Perm{Perm: p}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil {
		bs := int64(st.Bsize)
		out.TotalBytes = int64(st.Blocks) * bs
		out.FreeBytes = int64(st.Bavail) * bs
		out.UsedBytes = (int64(st.Blocks) - int64(st.Bfree)) * bs
	}
	return out
}

func uptime() time.Duration {
	f := strings.Fields(readTrim("/proc/uptime"))
	if len(f) == 0 {
		return 0
	}
	s, _ := strconv.ParseFloat(f[0], 64)
	return time.Duration(s * float64(time.Second))
}

func readTrim(p string) string {
	data, _ := os.ReadFile(p)
	return strings.TrimSpace(string(data))
}
