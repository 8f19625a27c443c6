// JS SDK v3 consumer: credentials from `credential_process` (fromProcess runs
// the profile's command through a shell, as the SDK does for every user), then
// GetCallerIdentity. Node does not honour HTTPS_PROXY on its own, so the
// proxy agent is wired in exactly as a corporate-proxy user would.
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { fromProcess } from "@aws-sdk/credential-providers";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { HttpsProxyAgent } from "https-proxy-agent";

const profile = process.argv[2];
const region = process.argv[3];
const agent = new HttpsProxyAgent(process.env.HTTPS_PROXY);
const client = new STSClient({
  region,
  endpoint: `https://sts.${region}.amazonaws.com`,
  credentials: fromProcess({ profile }),
  requestHandler: new NodeHttpHandler({ httpsAgent: agent }),
});
try {
  const out = await client.send(new GetCallerIdentityCommand({}));
  console.log(JSON.stringify({ Arn: out.Arn, Account: out.Account }));
} catch (e) {
  console.error(`js consumer: ${e.name}: ${e.message}`);
  process.exit(1);
}
