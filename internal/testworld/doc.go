// Package testworld is a fake AWS that runs behind the real hostnames, so
// bg-agent and every AWS tool reach it exactly as they would reach AWS: through
// HTTPS_PROXY and a CA bundle, nothing else changed.
//
// Start a world, seed it with users and roles, hand World.Env to a child:
//
//	w, _ := testworld.Start(testworld.Options{})
//	defer w.Close()
//	testworld.Demo(w)                 // or AddUser / AddRole
//	cmd.Env = append(os.Environ(), w.Env()...)
//
// The world is three servers on loopback:
//   - an HTTP CONNECT proxy (ProxyURL) that serves sts.<region>.amazonaws.com,
//     sts.amazonaws.com, <region>.signin.aws.amazon.com and
//     signin.aws.amazon.com with leaf certificates from an in-memory test CA
//     (CAFile) and refuses every other host with 403: there is no internet;
//   - STS (Query protocol, 2011-06-15) that verifies SigV4 with the SDK's own
//     signer, enforces credential-scope regions, clock skew, TOTP (single use
//     per device), role trust, MFA conditions, the one-hour role-chaining
//     limit, SourceIdentity and transitive session tags; and console
//     federation (getSigninToken, login);
//   - an admin HTTP API (AdminURL) for shell scripts and other languages:
//     POST/DELETE /faults, GET/DELETE /calls, GET /totp?serial=, POST /users,
//     POST /roles, POST /clock.
//
// The API: Start(Options) and Close; ProxyURL, CAFile, Env, AdminURL;
// AddUser, AddRole, Demo (and the Demo* constants); SetFault, ClearFaults;
// Calls, ResetCalls; TOTP (a device's code at a time), Session (what issued
// credentials carry); Now and SetClockOffset (the world's clock, used for
// signatures, TOTP and expiry); SetMFAReplay (how a reused code is refused).
//
// Faults are set per exact host (SetFault) and every request, including
// faulted ones and CONNECTs to unknown hosts, lands in the call log (Calls).
// Successful CONNECTs are not logged: the requests inside them are.
//
// Choices where the fake is simpler than AWS, documented so tests do not
// mistake them for AWS behaviour:
//   - MFA context propagates down a role chain: a role assumed with a session
//     that carries MFA carries it too, so RequireMFA can sit on any hop.
//   - A trust entry is a principal ARN (user or role), an account root ARN
//     (arn:aws:iam::ACCT:root) or a bare account id; the last two trust every
//     principal of that account.
//   - Session policies (Policy, PolicyArns) are accepted and ignored except
//     for PackedPolicySize.
//   - The "disabled" fault answers only STS hosts; signin hosts ignore it.
package testworld
