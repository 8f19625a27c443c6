package testworld

import "strings"

// regions are the real AWS region names the world accepts in hostnames; a
// typo in a region must fail as it would against AWS (no such host).
var regions = map[string]bool{}

func init() {
	for _, r := range strings.Fields(`
		us-east-1 us-east-2 us-west-1 us-west-2 us-gov-east-1 us-gov-west-1
		ca-central-1 ca-west-1 mx-central-1 sa-east-1
		eu-central-1 eu-central-2 eu-west-1 eu-west-2 eu-west-3 eu-south-1 eu-south-2 eu-north-1
		il-central-1 me-south-1 me-central-1 af-south-1
		ap-east-1 ap-east-2 ap-south-1 ap-south-2 ap-northeast-1 ap-northeast-2 ap-northeast-3
		ap-southeast-1 ap-southeast-2 ap-southeast-3 ap-southeast-4 ap-southeast-5 ap-southeast-6 ap-southeast-7`) {
		regions[r] = true
	}
}

// Services the world answers, by the first label of
// <service>.<region>.amazonaws.com. Adding one (sns, …) means a handler here
// and nothing else in the routing.
var awsServices = map[string]func(*World, *request){
	"sts": (*World).serveSTS,
	"sns": (*World).serveSNS,
	// IAM Roles Anywhere's CreateSession, in every region STS is served in.
	"rolesanywhere": (*World).serveRolesAnywhere,
}

// target is what a hostname resolves to inside the world.
type target struct {
	Host    string
	Service string // "sts", "signin", …
	Region  string // us-east-1 for the global endpoints
	Global  bool
}

// route maps a hostname (no port) to the service it serves; false for any
// host the world does not serve.
func route(host string) (target, bool) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	t := target{Host: host}
	switch {
	case host == "sts.amazonaws.com":
		t.Service, t.Region, t.Global = "sts", "us-east-1", true
		return t, true
	case host == "signin.aws.amazon.com":
		t.Service, t.Region, t.Global = "signin", "us-east-1", true
		return t, true
	case strings.HasSuffix(host, ".signin.aws.amazon.com"):
		r := strings.TrimSuffix(host, ".signin.aws.amazon.com")
		t.Service, t.Region = "signin", r
		return t, regions[r]
	case strings.HasSuffix(host, ".amazonaws.com"):
		parts := strings.Split(strings.TrimSuffix(host, ".amazonaws.com"), ".")
		if len(parts) != 2 || !regions[parts[1]] {
			return t, false
		}
		if _, ok := awsServices[parts[0]]; !ok {
			return t, false
		}
		t.Service, t.Region = parts[0], parts[1]
		return t, true
	}
	return t, false
}
