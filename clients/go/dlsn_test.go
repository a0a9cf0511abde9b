package dlog

import (
	"encoding/hex"
	"encoding/json"
	"testing"
)

// The vectors of SPEC §1: DistributedLog's DLSN.serializeBytes() and serialize().
var dlsnVectors = []struct {
	dlsn   DLSN
	hex    string
	base64 string
}{
	{DLSN{1, 2, 3}, "01000000000000000100000000000000020000000000000003", "AQAAAAAAAAABAAAAAAAAAAIAAAAAAAAAAw=="},
	{InitialDLSN, "01000000000000000100000000000000000000000000000000", "AQAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAA=="},
	{NonInclusiveLowerBound, "0100000000000000010000000000000000ffffffffffffffff", "AQAAAAAAAAABAAAAAAAAAAD//////////w=="},
	{InvalidDLSN, "010000000000000000ffffffffffffffffffffffffffffffff", "AQAAAAAAAAAA/////////////////////w=="},
}

func TestDLSNSerializesLikeDistributedLog(t *testing.T) {
	for _, v := range dlsnVectors {
		if got := hex.EncodeToString(v.dlsn.Bytes()); got != v.hex {
			t.Errorf("%v.Bytes() = %s, want %s", v.dlsn, got, v.hex)
		}
		if got := v.dlsn.Base64(); got != v.base64 {
			t.Errorf("%v.Base64() = %s, want %s", v.dlsn, got, v.base64)
		}
		raw, _ := hex.DecodeString(v.hex)
		if got, err := DLSNFromBytes(raw); err != nil || got != v.dlsn {
			t.Errorf("DLSNFromBytes(%s) = %v, %v; want %v", v.hex, got, err, v.dlsn)
		}
		if got, err := DLSNFromBase64(v.base64); err != nil || got != v.dlsn {
			t.Errorf("DLSNFromBase64(%s) = %v, %v; want %v", v.base64, got, err, v.dlsn)
		}
		if got, err := ParseDLSN(v.base64); err != nil || got != v.dlsn {
			t.Errorf("ParseDLSN(%s) = %v, %v; want %v", v.base64, got, err, v.dlsn)
		}
	}
}

func TestDLSNRejectsMalformedForms(t *testing.T) {
	good, _ := hex.DecodeString(dlsnVectors[0].hex)
	wrongVersion := append([]byte{0x02}, good[1:]...)
	for name, b := range map[string][]byte{"short": good[:24], "long": append(good, 0), "version 2": wrongVersion, "empty": nil} {
		if _, err := DLSNFromBytes(b); err == nil {
			t.Errorf("DLSNFromBytes(%s) accepted", name)
		}
	}
	for _, s := range []string{"not base64!", "AQAAAAAAAAAB", "1/2", "1/2/x", "1/2/3/4", ""} {
		if _, err := ParseDLSN(s); err == nil {
			t.Errorf("ParseDLSN(%q) accepted", s)
		}
	}
}

func TestDLSNPrintsParsesAndOrders(t *testing.T) {
	d := DLSN{1, 42, 0}
	if d.String() != "1/42/0" {
		t.Fatalf("String() = %q", d.String())
	}
	if got, err := ParseDLSN("1/42/0"); err != nil || got != d {
		t.Fatalf("ParseDLSN = %v, %v", got, err)
	}
	if NonInclusiveLowerBound.String() != "1/0/-1" {
		t.Fatalf("String() = %q", NonInclusiveLowerBound.String())
	}
	ordered := []DLSN{InvalidDLSN, NonInclusiveLowerBound, InitialDLSN, {1, 0, 1}, {1, 1, 0}, {2, 0, 0}}
	for i := range ordered {
		for j := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := ordered[i].Compare(ordered[j]); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	seen := map[DLSN]bool{{1, 2, 3}: true}
	if !seen[DLSN{1, 2, 3}] || seen[DLSN{1, 2, 4}] {
		t.Fatal("DLSN is not usable as a map key")
	}
	out, _ := json.Marshal(map[string]DLSN{"at": d})
	if string(out) != `{"at":"1/42/0"}` {
		t.Fatalf("JSON = %s", out)
	}
	var back map[string]DLSN
	if err := json.Unmarshal(out, &back); err != nil || back["at"] != d {
		t.Fatalf("JSON round trip = %v, %v", back, err)
	}
}
