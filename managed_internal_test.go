package amove

import (
	"testing"
	"time"

	"github.com/amove/amove-go/store"
)

func TestDailyMax(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sample := func(account string, tier StorageTier, bytes int64, h int) store.UsageSample {
		return store.UsageSample{AccountID: account, Tier: int(tier), Bytes: bytes, At: at.Add(time.Duration(h) * time.Hour)}
	}
	day := []store.UsageSample{
		sample("a", TierPerform, 100, 1), sample("a", TierPerform, 700, 5), sample("a", TierPerform, 300, 9),
		sample("b", TierGlobal, 50, 2), sample("b", TierGlobal, 40, 8),
		sample("c", TierGlobal, 10, 3), // a second storage of the tier counts too
	}
	tests := []struct {
		name    string
		samples []store.UsageSample
		tier    StorageTier
		want    int64
	}{
		{"none", nil, TierAll, 0},
		{"one tier's max", day, TierPerform, 700},
		{"a tier of two storages", day, TierGlobal, 60},
		{"all tiers: the maxima summed", day, TierAll, 760},
		{"a tier without storage", day, TierArchive, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := dailyMax(tc.samples, tc.tier); got != tc.want {
				t.Errorf("dailyMax = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestValidBucket(t *testing.T) {
	for name, ok := range map[string]bool{
		"project-alpha": true, "a.b-c9": true, "abc": true,
		"": false, "ab": false, "Project": false, "-abc": false, "abc-": false, "a..b": false,
		"a/b": false, "a_b": false, "bücket": false, string(make([]byte, 64)): false,
	} {
		if err := validBucket(name); (err == nil) != ok {
			t.Errorf("validBucket(%q) = %v, want ok %v", name, err, ok)
		}
	}
}
