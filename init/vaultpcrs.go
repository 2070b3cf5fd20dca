package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"

	"github.com/skerry/skerry/board"
	"github.com/skerry/skerry/services/contract"
)

// vaultPCRArgs passes the board's PCR set to the vault (skerry vault
// -pcrs), from the board named in the image's release record. Without a
// record or a known board the vault keeps its own default.
func vaultPCRArgs() []string {
	var rel contract.Release
	data, err := os.ReadFile(contract.ReleaseFile)
	if err != nil || json.Unmarshal(data, &rel) != nil {
		return nil
	}
	b, err := board.Lookup(rel.Board)
	if err != nil {
		return nil
	}
	s := make([]string, len(b.Vault.PCRs))
	for i, p := range b.Vault.PCRs {
		s[i] = strconv.Itoa(p)
	}
	return []string{"-pcrs", strings.Join(s, ",")}
}
