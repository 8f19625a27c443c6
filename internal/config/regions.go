package config

// knownRegions maps every public region bg-agent accepts to its partition.
// Source: the "regions" of the aws, aws-us-gov and aws-cn partitions in
// aws-sdk-go-v2 v1.47.7 internal/endpoints/awsrulesfn/partitions.json
// (the SDK pinned in go.mod); update it together with the SDK.
var knownRegions = map[string]string{
	"us-east-1": "aws", "us-east-2": "aws", "us-west-1": "aws", "us-west-2": "aws",
	"ca-central-1": "aws", "ca-west-1": "aws", "mx-central-1": "aws", "sa-east-1": "aws",
	"eu-central-1": "aws", "eu-central-2": "aws", "eu-north-1": "aws",
	"eu-south-1": "aws", "eu-south-2": "aws",
	"eu-west-1": "aws", "eu-west-2": "aws", "eu-west-3": "aws",
	"af-south-1": "aws", "il-central-1": "aws", "me-central-1": "aws", "me-south-1": "aws",
	"ap-east-1": "aws", "ap-east-2": "aws",
	"ap-northeast-1": "aws", "ap-northeast-2": "aws", "ap-northeast-3": "aws",
	"ap-south-1": "aws", "ap-south-2": "aws",
	"ap-southeast-1": "aws", "ap-southeast-2": "aws", "ap-southeast-3": "aws",
	"ap-southeast-4": "aws", "ap-southeast-5": "aws", "ap-southeast-6": "aws",
	"ap-southeast-7": "aws",
	"us-gov-east-1":  "aws-us-gov", "us-gov-west-1": "aws-us-gov",
	"cn-north-1": "aws-cn", "cn-northwest-1": "aws-cn",
}

// partnerRegion is the second STS region tried for a profile that sets only
// region: one in the same geography and partition, chosen among regions
// enabled by default so that it works without an opt-in.
var partnerRegion = map[string]string{
	"us-east-1": "us-east-2", "us-east-2": "us-east-1",
	"us-west-1": "us-west-2", "us-west-2": "us-west-1",
	"ca-central-1": "us-east-2", "ca-west-1": "ca-central-1",
	"mx-central-1": "us-east-2", "sa-east-1": "us-east-2",
	"eu-central-1": "eu-west-1", "eu-central-2": "eu-central-1", "eu-north-1": "eu-central-1",
	"eu-south-1": "eu-central-1", "eu-south-2": "eu-west-3",
	"eu-west-1": "eu-central-1", "eu-west-2": "eu-west-1", "eu-west-3": "eu-central-1",
	"af-south-1": "eu-central-1", "il-central-1": "eu-central-1",
	"me-central-1": "ap-south-1", "me-south-1": "ap-south-1",
	"ap-east-1": "ap-southeast-1", "ap-east-2": "ap-northeast-1",
	"ap-northeast-1": "ap-northeast-3", "ap-northeast-2": "ap-northeast-1", "ap-northeast-3": "ap-northeast-1",
	"ap-south-1": "ap-southeast-1", "ap-south-2": "ap-south-1",
	"ap-southeast-1": "ap-northeast-1", "ap-southeast-2": "ap-southeast-1",
	"ap-southeast-3": "ap-southeast-1", "ap-southeast-4": "ap-southeast-2",
	"ap-southeast-5": "ap-southeast-1", "ap-southeast-6": "ap-southeast-2",
	"ap-southeast-7": "ap-southeast-1",
	"us-gov-east-1":  "us-gov-west-1", "us-gov-west-1": "us-gov-east-1",
	"cn-north-1": "cn-northwest-1", "cn-northwest-1": "cn-north-1",
}

// commercialFallback ends every default commercial list: us-west-2 and
// eu-west-1 are large, default-enabled regions on two continents, and
// neither is us-east-1, whose loss is the scenario bg-agent exists for.
var commercialFallback = []string{"us-west-2", "eu-west-1"}

// defaultRegions is the STS failover order for a profile without
// bg_regions: region, its partner, then (commercial partition only, since
// credentials never cross partitions) the commercial fallback; no duplicates.
func defaultRegions(region string) []string {
	list := []string{region}
	if p, ok := partnerRegion[region]; ok {
		list = append(list, p)
	}
	if knownRegions[region] == "aws" {
		list = append(list, commercialFallback...)
	}
	return dedupe(list)
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
