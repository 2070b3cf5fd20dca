package main

import (
	"os"
	"strings"

	"github.com/skerry/skerry/init/internal/console"
	"github.com/skerry/skerry/init/internal/kmod"
	"github.com/skerry/skerry/services/contract"
)

// loadModules loads the board's kernel modules (contract.ModulesFile) in
// dependency order and returns those loaded. A module that fails is
// reported; the rest still load.
func loadModules(log *console.Logger) []string {
	data, err := os.ReadFile(contract.ModulesFile)
	if err != nil {
		log.Printf("modules: %v", err)
		return nil
	}
	dir, err := kmod.Dir()
	if err != nil {
		log.Printf("modules: %v", err)
		return nil
	}
	loaded, err := kmod.Load(dir, strings.Fields(string(data)))
	if err != nil {
		log.Printf("modules: %v", err)
	}
	log.Printf("loaded %d kernel modules", len(loaded))
	return loaded
}
