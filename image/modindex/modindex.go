// Package modindex reads the indexes depmod writes for a kernel module
// tree (modules.dep, modules.softdep, modules.alias, modules.builtin). The
// image builder uses it to keep only the modules a board needs; init uses it
// to load them in dependency order.
package modindex

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Index is what depmod knows of one module tree.
type Index struct {
	Path    map[string]string   // name -> file relative to the modules dir
	deps    map[string][]string // name -> every module it needs, as depmod lists them
	softPre map[string][]string // name -> names or aliases to load first
	softPst map[string][]string // name -> names or aliases to load after
	aliases map[string][]string // alias -> module names
	builtin map[string]bool
}

// Name turns a module file name into the module's name (ext4.ko -> ext4,
// crc32c-generic.ko -> crc32c_generic).
func Name(p string) string {
	p = filepath.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		p = strings.TrimSuffix(p, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(p, ".ko"), "-", "_")
}

// Read loads the indexes of the tree in dir (/lib/modules/$(uname -r)).
func Read(dir string) (*Index, error) {
	ix := &Index{Path: map[string]string{}, deps: map[string][]string{}, softPre: map[string][]string{},
		softPst: map[string][]string{}, aliases: map[string][]string{}, builtin: map[string]bool{}}
	err := EachLine(filepath.Join(dir, "modules.dep"), func(line string) {
		mod, deps, ok := strings.Cut(line, ":")
		if !ok {
			return
		}
		name := Name(mod)
		ix.Path[name] = mod
		for _, d := range strings.Fields(deps) {
			ix.deps[name] = append(ix.deps[name], Name(d))
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}
	err = EachLine(filepath.Join(dir, "modules.softdep"), func(line string) {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "softdep" {
			return
		}
		name, list := Name(f[1]), ix.softPre
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				list = ix.softPre
			case "post:":
				list = ix.softPst
			default:
				list[name] = append(list[name], w)
			}
		}
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("read modules.softdep: %w", err)
	}
	err = EachLine(filepath.Join(dir, "modules.alias"), func(line string) {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "alias" && !strings.ContainsAny(f[1], "*?[") {
			ix.aliases[f[1]] = append(ix.aliases[f[1]], Name(f[2]))
		}
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("read modules.alias: %w", err)
	}
	err = EachLine(filepath.Join(dir, "modules.builtin"), func(line string) { ix.builtin[Name(line)] = true })
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("read modules.builtin: %w", err)
	}
	return ix, nil
}

// Builtin reports whether the kernel has the module built in.
func (ix *Index) Builtin(name string) bool { return ix.builtin[strings.ReplaceAll(name, "-", "_")] }

// Resolve maps a module name or alias to module names in the tree.
func (ix *Index) Resolve(name string) []string {
	n := strings.ReplaceAll(name, "-", "_")
	if _, ok := ix.Path[n]; ok {
		return []string{n}
	}
	return ix.aliases[name]
}

// LoadOrder returns the modules to load, in order, so that each of names is
// loaded after its dependencies and its "pre" soft dependencies and before
// its "post" ones. Built-in modules are skipped; a name that is neither in
// the tree nor built in is an error.
func (ix *Index) LoadOrder(names []string) ([]string, error) {
	var order []string
	done := map[string]bool{}
	var visit func(n string, soft bool) error
	visit = func(n string, soft bool) error {
		rs := ix.Resolve(n)
		if len(rs) == 0 {
			if ix.Builtin(n) || soft {
				// A soft dependency is a wish (crc32c may be built in or
				// provided by an arch module), not a requirement.
				return nil
			}
			return fmt.Errorf("module %q is neither in the module tree nor built into the kernel", n)
		}
		for _, r := range rs {
			if done[r] {
				continue
			}
			done[r] = true
			for _, s := range ix.softPre[r] {
				if err := visit(s, true); err != nil {
					return err
				}
			}
			// depmod lists dependencies so that the last must load first.
			deps := ix.deps[r]
			for i := len(deps) - 1; i >= 0; i-- {
				if err := visit(deps[i], false); err != nil {
					return err
				}
			}
			order = append(order, r)
			for _, s := range ix.softPst[r] {
				if err := visit(s, true); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, n := range names {
		if err := visit(n, false); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// Needs returns the modules that must be loaded before name: its hard
// dependencies and its "pre" soft dependencies that the tree has.
func (ix *Index) Needs(name string) []string {
	needs := append([]string(nil), ix.deps[name]...)
	for _, s := range ix.softPre[name] {
		needs = append(needs, ix.Resolve(s)...)
	}
	return needs
}

// Closure is LoadOrder sorted by name: the set of files a tree must keep.
func (ix *Index) Closure(names []string) ([]string, error) {
	order, err := ix.LoadOrder(names)
	if err != nil {
		return nil, err
	}
	sort.Strings(order)
	return order, nil
}

// EachLine calls fn for every non-blank line of file that is not a
// comment, trimmed.
func EachLine(file string, fn func(string)) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			fn(line)
		}
	}
	return sc.Err()
}
