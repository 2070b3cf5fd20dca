package health

import (
	"fmt"
	"strings"

	"github.com/google/go-tpm/tpm2"

	"github.com/skerry/skerry/services/internal/tpm"
)

// TPM is what the status API says of the TPM.
type TPM struct {
	Present      bool   `json:"present"`
	Device       string `json:"device"`
	Manufacturer string `json:"manufacturer,omitempty"` // e.g. "IBM", "INTC"
	VendorString string `json:"vendorString,omitempty"`
	Firmware     string `json:"firmwareVersion,omitempty"`
	Error        string `json:"error,omitempty"`
}

// readTPM asks the TPM for its fixed properties. The device is opened per
// request: the resource manager (tpmrm0) lets several users share it, and
// a status call must not hold it.
func readTPM(path string) TPM {
	t := TPM{Device: path}
	tr, err := tpm.OpenTransport(path)
	if err != nil {
		t.Error = fmt.Sprintf("open %s: %v", path, err)
		return t
	}
	defer tr.Close()
	resp, err := tpm2.GetCapability{
		Capability:    tpm2.TPMCapTPMProperties,
		Property:      uint32(tpm2.TPMPTManufacturer),
		PropertyCount: 8, // manufacturer, 4 vendor strings, vendor type, firmware 1 and 2
	}.Execute(tr)
	if err != nil {
		t.Error = fmt.Sprintf("TPM2_GetCapability: %v", err)
		return t
	}
	props, err := resp.CapabilityData.Data.TPMProperties()
	if err != nil {
		t.Error = fmt.Sprintf("TPM2_GetCapability: %v", err)
		return t
	}
	t.Present = true
	var vendor, fw strings.Builder
	for _, p := range props.TPMProperty {
		switch p.Property {
		case tpm2.TPMPTManufacturer:
			t.Manufacturer = fourCC(p.Value)
		case tpm2.TPMPTVendorString1, tpm2.TPMPTVendorString2, tpm2.TPMPTVendorString3, tpm2.TPMPTVendorString4:
			vendor.WriteString(fourCC(p.Value))
		case tpm2.TPMPTFirmwareVersion1, tpm2.TPMPTFirmwareVersion2:
			fmt.Fprintf(&fw, "%08x", p.Value)
		}
	}
	t.VendorString, t.Firmware = vendor.String(), fw.String()
	return t
}

// fourCC decodes a property packed as four ASCII bytes, trimming padding.
func fourCC(v uint32) string {
	b := []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	return strings.TrimRight(strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, string(b)), " ")
}
