package notify

import (
	"regexp"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/config"
)

func TestIsTopicARN(t *testing.T) {
	name256 := strings.Repeat("n", 256)
	for _, tc := range []struct {
		arn  string
		want bool
	}{
		{topicTokyo, true},
		{"arn:aws:sns:us-west-2:111111111111:a", true},
		{"arn:aws:sns:us-west-2:111111111111:Break_Glass-1", true},
		{"arn:aws:sns:us-west-2:111111111111:breakglass.fifo", true},
		{"arn:aws:sns:us-west-2:111111111111:" + name256, true},
		{"arn:aws:sns:us-west-2:111111111111:" + name256 + ".fifo", true},
		{"arn:aws-cn:sns:cn-north-1:111111111111:t", true},
		{"arn:aws-us-gov:sns:us-gov-west-1:111111111111:t", true},
		{"", false},
		{"breakglass", false},
		{"arn:aws:sns:us-west-2:111111111111:" + name256 + "n", false},
		{"arn:aws:sns:us-west-2:111111111111:", false},
		{"arn:aws:sns:us-west-2:111111111111:.fifo", false},
		{"arn:aws:sns:us-west-2:111111111111:t.fifo.fifo", false},
		{"arn:aws:sns:us-west-2:111111111111:t.txt", false},
		{"arn:aws:sns:us-west-2:111111111111:t:x", false},
		{"arn:aws:sns:us-west-2:111111111111:bad name", false},
		{"arn:aws:sns:mars-west-9:111111111111:t", false},           // not a region
		{"arn:aws-cn:sns:us-west-2:111111111111:t", false},          // region of another partition
		{"arn:aws:sns:cn-north-1:111111111111:t", false},            // region of another partition
		{"arn:aws-iso:sns:us-iso-east-1:111111111111:t", false},     // a partition bg-agent has no regions of
		{"arn:aws:sqs:us-west-2:111111111111:t", false},             // not SNS
		{"arn:aws:sns:us-west-2:11111111111:t", false},              // 11 digits
		{"arn:aws:sns:us-west-2:11111111111x:t", false},             // not digits
		{"arn:aws:sns:us-west-2::t", false},                         // no account
		{"arn:aws:sns::111111111111:t", false},                      // no region
		{"ARN:aws:sns:us-west-2:111111111111:t", false},             // case matters
		{" arn:aws:sns:us-west-2:111111111111:t", false},            // no trimming
		{"arn:aws:sns:us-west-2:111111111111:t\n", false},           // no trailing newline
		{"arn:aws:sns:us-west-2:111111111111:t" + "\u00e9", false},  // ASCII only
		{"arn:aws:sns:us-west-2:111111111111:arn:aws:sns:x", false}, // too many fields
	} {
		if got := IsTopicARN(tc.arn); got != tc.want {
			t.Errorf("IsTopicARN(%q) = %v, want %v", tc.arn, got, tc.want)
		}
		if region := topicRegion(tc.arn); tc.want && region != strings.Split(tc.arn, ":")[3] {
			t.Errorf("topicRegion(%q) = %q", tc.arn, region)
		}
	}
}

// TestIsTopicARNAgainstRegexp: IsTopicARN is the regexp it replaced, with
// the region held to config's list and to the ARN's partition.
func TestIsTopicARNAgainstRegexp(t *testing.T) {
	re := regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov|aws-iso[a-z-]*):sns:([a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]+):([0-9]{12}):([A-Za-z0-9_-]{1,256})(\.fifo)?$`)
	want := func(s string) bool {
		m := re.FindStringSubmatch(s)
		if m == nil {
			return false
		}
		part, ok := config.RegionPartition(m[2])
		return ok && part == m[1]
	}
	seeds := []string{
		topicTokyo, topicLocked, "arn:aws:sns:us-west-2:111111111111:t.fifo",
		"arn:aws-cn:sns:cn-northwest-1:222222222222:x-y_z", "arn:aws-us-gov:sns:us-gov-east-1:333333333333:Q",
	}
	// Every seed, and every one-byte deletion, duplication and substitution
	// of it (the bytes an ARN is made of, and a few it must not hold).
	const alphabet = "arnwsc-:019.fio_ Z\x00\xff/"
	inputs := map[string]bool{}
	for _, s := range seeds {
		inputs[s] = true
		for i := 0; i < len(s); i++ {
			inputs[s[:i]+s[i+1:]] = true
			inputs[s[:i]+s[i:i+1]+s[i:]] = true
			for j := 0; j < len(alphabet); j++ {
				inputs[s[:i]+alphabet[j:j+1]+s[i+1:]] = true
				inputs[s[:i]+alphabet[j:j+1]+s[i:]] = true
			}
		}
	}
	// Long names (not mutated: the regexp is slow on them), and every
	// region in its own partition and in each of the others.
	for _, n := range []int{255, 256, 257} {
		name := strings.Repeat("n", n)
		inputs["arn:aws:sns:us-west-2:111111111111:"+name] = true
		inputs["arn:aws:sns:us-west-2:111111111111:"+name+".fifo"] = true
	}
	for _, r := range config.RegionNames() {
		for _, p := range []string{"aws", "aws-cn", "aws-us-gov", "aws-iso"} {
			inputs["arn:"+p+":sns:"+r+":111111111111:t"] = true
		}
	}
	accepted := 0
	for s := range inputs {
		w := want(s)
		if got := IsTopicARN(s); got != w {
			t.Errorf("IsTopicARN(%q) = %v, regexp and region list say %v", s, got, w)
		}
		if w {
			accepted++
		}
	}
	if accepted < len(seeds)+len(config.RegionNames()) {
		t.Errorf("only %d of %d inputs accepted: the mutations say little", accepted, len(inputs))
	}
}
