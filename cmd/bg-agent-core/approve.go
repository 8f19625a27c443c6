package main

import (
	"bufio"
	"cmp"
	"crypto/ecdh"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/approval"
	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/declare"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/paths"
)

// approverFile records this machine's approver identity: the name the kit
// lists it under and where its private key is (keystore or YubiKey slot).
// Public data only.
const approverFile = "approver.json"

type approverRecord struct {
	Name   string `json:"name"`
	Key    string `json:"key"`              // the public-key line
	Serial uint32 `json:"serial,omitempty"` // YubiKey, else the keystore
	Slot   string `json:"slot,omitempty"`
}

func (a *appCtx) approverCommand() *cli.Command {
	return &cli.Command{
		Name:  "approver",
		Usage: "this machine's approver key, for two-person approval of break-glass use",
		Description: "An approver signs other administrators' break-glass requests with `bg-agent approve`.\n" +
			"Their key is on their YubiKey (PIV slot 9c, generated on the card and attested; PIN and\n" +
			"touch) or, without one, an Ed25519 key in the keystore. The public-key line goes into\n" +
			"the kit's [[approvers]].",
		Subcommands: []*cli.Command{a.approverInitCommand(), a.approverShowCommand()},
	}
}

func (a *appCtx) approverInitCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "make this machine's approver key and print its public-key line for the kit",
		Flags: []cli.Flag{
			&cli.UintFlag{Name: "yubikey-serial", Usage: "make the key on this YubiKey (PIV slot 9c) instead of the keystore"},
			&cli.StringFlag{Name: "name", Usage: "your name in the kit's [[approvers]] (default: your login name)"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing approver key (its kit line then stops working)"},
			&cli.BoolFlag{Name: "yes", Usage: "replace a key already in slot 9c without asking"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, "[--yubikey-serial N] [--name NAME]"); err != nil {
				return err
			}
			name := cmp.Or(c.String("name"), audit.OSUser())
			if !validName(name) {
				return bgerr.New(bgerr.KindUsage, fmt.Sprintf("approver name %q is not lower-case letters, digits and -", name),
					"say it with --name, as the kit's [[approvers]] will list you")
			}
			if old, err := a.approver(); err == nil && !c.Bool("force") {
				return bgerr.New(bgerr.KindUsage, "this machine has an approver key already ("+old.Name+", "+short(old.Key)+")",
					"print it with: bg-agent approver show", "replace it with --force (the kit's line for it must then be replaced)")
			}
			var rec approverRecord
			var err error
			if serial := uint32(c.Uint("yubikey-serial")); serial != 0 {
				rec, err = a.approverOnYubiKey(c, serial)
			} else {
				rec, err = a.approverInKeystore()
			}
			if err != nil {
				return err
			}
			rec.Name = name
			if err := a.saveApprover(rec); err != nil {
				return err
			}
			fmt.Fprintln(a.env.Stdout, rec.Key)
			a.ui.Infof("add this to the kit's approvers (the order of [[approvers]] is the escalation order):")
			a.ui.Infof("  [[approvers]]")
			a.ui.Infof("  name = %q", name)
			a.ui.Infof("  key = %q", rec.Key)
			if rec.Serial != 0 {
				a.ui.Infof("  yubikey_serial = %d", rec.Serial)
			}
			return nil
		},
	}
}

func (a *appCtx) approverShowCommand() *cli.Command {
	return &cli.Command{
		Name:  "show",
		Usage: "print this machine's approver public-key line",
		Action: func(c *cli.Context) error {
			rec, err := a.approver()
			if err != nil {
				return err
			}
			fmt.Fprintln(a.env.Stdout, rec.Key)
			where := "the keystore"
			if rec.Serial != 0 {
				where = fmt.Sprintf("YubiKey %d slot %s", rec.Serial, rec.Slot)
			}
			a.ui.Infof("approver %s, key in %s", rec.Name, where)
			return nil
		},
	}
}

// validName is the kit's rule for people's names (internal/config): a
// login name like john.doe would make approvals no kit lists.
func validName(s string) bool {
	if s == "" || len(s) > 32 || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func short(s string) string {
	if len(s) > 32 {
		return s[:29] + "..."
	}
	return s
}

// approverInKeystore makes a software key, kept in the keystore.
func (a *appCtx) approverInKeystore() (approverRecord, error) {
	k, err := approval.GenerateSoft()
	if err != nil {
		return approverRecord{}, err
	}
	st, err := a.openStore()
	if err != nil {
		return approverRecord{}, err
	}
	secret := k.Marshal()
	defer clear(secret)
	if err := st.PutPrivate(keystore.ApproverKey, secret, "approver key"); err != nil {
		return approverRecord{}, err
	}
	a.ui.Infof("made an Ed25519 approver key in the %s keystore", st.Backend())
	return approverRecord{Key: k.Public().String()}, nil
}

func (a *appCtx) saveApprover(rec approverRecord) error {
	dir, err := a.stateDir()
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(rec, "", "  ")
	return paths.WritePrivate(filepath.Join(dir, approverFile), append(b, '\n'))
}

// approver is this machine's approver record.
func (a *appCtx) approver() (*approverRecord, error) {
	dir, err := a.stateDir()
	if err != nil {
		return nil, err
	}
	b, err := paths.ReadPrivate(filepath.Join(dir, approverFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, bgerr.New(bgerr.KindUsage, "this machine has no approver key",
			"make one with: bg-agent approver init (--yubikey-serial N to keep it on a YubiKey), and have its line added to the kit")
	}
	if err != nil {
		return nil, err
	}
	var rec approverRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.Name == "" {
		return nil, bgerr.New(bgerr.KindConfig, "the approver record "+filepath.Join(dir, approverFile)+" is damaged",
			"make a new key with: bg-agent approver init --force")
	}
	if _, err := approval.ParsePublicKey(rec.Key); err != nil {
		return nil, err
	}
	return &rec, nil
}

// signer opens the approver's private key.
func (a *appCtx) signer(c *cli.Context, rec *approverRecord, purpose string) (approval.Signer, error) {
	pub, err := approval.ParsePublicKey(rec.Key)
	if err != nil {
		return nil, err
	}
	if rec.Serial != 0 {
		return a.yubikeySigner(c, rec, pub, purpose)
	}
	st, err := a.openStore()
	if err != nil {
		return nil, err
	}
	b, err := st.GetPrivate(keystore.ApproverKey)
	if errors.Is(err, keystore.ErrNoPrivate) {
		return nil, bgerr.New(bgerr.KindNoSecret, "the approver key of "+rec.Name+" is not in the "+st.Backend()+" keystore",
			"make a new one with: bg-agent approver init --force, and have its line replaced in the kit")
	}
	if err != nil {
		return nil, err
	}
	defer clear(b)
	k, err := approval.ParseSoft(b)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindKeystore, err, "the approver key in the keystore is damaged",
			"make a new one with: bg-agent approver init --force, and have its line replaced in the kit")
	}
	if !k.Public().Equal(pub) {
		return nil, bgerr.New(bgerr.KindKeystore, "the approver key in the keystore is not the one "+approverFile+" names",
			"print the one the kit should list with: bg-agent approver show; or make a new one: bg-agent approver init --force")
	}
	return k, nil
}

func (a *appCtx) approveCommand() *cli.Command {
	return &cli.Command{
		Name:      "approve",
		Usage:     "approve another administrator's break-glass request (works offline)",
		ArgsUsage: "[CODE|-]",
		Description: "Shows who asks for what, why and for how long, asks for confirmation on the terminal,\n" +
			"signs with this machine's approver key and prints the approval code to send back.\n" +
			"Confirm the request's fingerprint with the requester over another channel (a phone call).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "yes", Usage: "approve without asking (scripts)"},
			&cli.DurationFlag{Name: "for", Usage: "how long the approval holds (default: until the request ends)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return needArgs(c, 1, "[CODE|-]")
			}
			rec, err := a.approver()
			if err != nil {
				return err
			}
			code, err := a.codeArg(c.Args().First(), "request")
			if err != nil {
				return err
			}
			r, err := approval.ParseRequest(code)
			if err != nil {
				return err
			}
			now := time.Now()
			if r.Operator == rec.Name {
				return bgerr.New(bgerr.KindUsage, "this is your own request: you cannot approve it",
					"send it to another approver in the kit's order")
			}
			a.showRequest(r, now)
			notAfter := time.Time{}
			if d := c.Duration("for"); d > 0 {
				notAfter = now.Add(d)
			}
			if !c.Bool("yes") {
				if err := a.confirm(fmt.Sprintf("approve %s's request %s?", r.Operator, r.Fingerprint())); err != nil {
					return err
				}
			}
			s, err := a.signer(c, rec, "approve the request of "+r.Operator)
			if err != nil {
				return err
			}
			ap, err := approval.Sign(r, s, rec.Name, notAfter, now)
			if err != nil {
				return err
			}
			// The approver's own record: what they signed, for whom.
			a.governance(audit.Record{Event: audit.EventApprove, Result: audit.ResultSigned, BGUser: declare.IAMUser(r.User), Roles: r.Scope,
				Reason: r.Reason, Ticket: r.Ticket, Request: r.Fingerprint(), ApprovedBy: []string{rec.Name},
				Approvals: []string{ap.ID}, Expires: ap.NotAfter})
			fmt.Fprintln(a.env.Stdout, ap.Code())
			a.ui.Infof("approved request %s of %s until %s (approval %s); send the code above back to %s",
				r.Fingerprint(), r.Operator, ap.NotAfter.Local().Format("15:04 Jan 2"), ap.ID, r.Operator)
			return nil
		},
	}
}

// showRequest prints what an approver approves, on stderr (or the terminal).
func (a *appCtx) showRequest(r *approval.Request, now time.Time) {
	a.ui.Infof("%s asks for break-glass access (kit %s, %s)", r.Operator, r.Kit, declare.DescribePrincipal(r.User))
	for _, role := range r.Scope {
		a.ui.Infof("  role:   %s", role)
	}
	a.ui.Infof("  reason: %s", r.Reason)
	if r.Ticket != "" {
		a.ui.Infof("  ticket: %s", r.Ticket)
	}
	a.ui.Infof("  asked:  %s; until %s (%s from now)", r.At.Local().Format("15:04 Jan 2"), r.NotAfter.Local().Format("15:04 Jan 2"),
		r.NotAfter.Sub(now).Round(time.Minute))
	if len(r.Shares) > 0 {
		a.ui.Infof("  dual control: approving releases your half of %s's access key to this request: with it and their YubiKey the whole key opens (it is rotated after the incident)", r.User)
	}
	a.ui.Infof("  request fingerprint: %s (confirm it with %s over the phone)", r.Fingerprint(), r.Operator)
}

// confirm asks a yes/no question on the terminal; no terminal is a refusal
// that names --yes.
func (a *appCtx) confirm(q string) error {
	refuse := bgerr.New(bgerr.KindUsage, "approving needs a yes on the terminal, and there is none", "run it in a terminal, or pass --yes")
	return a.askYes(refuse, "bg-agent: "+q+" type yes to approve: ", bgerr.New(bgerr.KindCanceled, "not approved: nothing was signed"))
}

// askYes writes question on the terminal and returns nil only for "yes";
// no terminal is noTerminal, any other answer is declined.
func (a *appCtx) askYes(noTerminal error, question string, declined error) error {
	if a.env.Terminal == nil {
		return noTerminal
	}
	t, err := a.env.Terminal()
	if err != nil {
		return noTerminal
	}
	defer t.Close()
	fmt.Fprint(t, question)
	line, _ := bufio.NewReader(t).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		return declined
	}
	return nil
}

// codeArg is a code from the command line, or from stdin for "-" (a
// pasted code may be wrapped over lines).
func (a *appCtx) codeArg(arg, what string) (string, error) {
	if arg != "" && arg != "-" {
		return arg, nil
	}
	if arg == "" && a.env.StdinIsTerminal {
		return "", bgerr.New(bgerr.KindUsage, "no "+what+" code given", "pass it as an argument, or - to read it from stdin")
	}
	b, err := io.ReadAll(io.LimitReader(a.env.Stdin, 256<<10))
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", bgerr.New(bgerr.KindUsage, "stdin held no "+what+" code", "pipe the code in, or pass it as an argument")
	}
	return string(b), nil
}

// approvalScope is the profiles a declaration asks approvals for: those
// with bg_approvals (only the named ones, with --profile). They must come
// from one kit, operator, IAM user and approver list.
func (a *appCtx) approvalScope(only []string) ([]*config.Profile, error) {
	file, err := a.configFile()
	if err != nil {
		return nil, err
	}
	all, errs := config.LoadAll(file)
	var scope []*config.Profile
	for _, name := range only {
		i := slices.IndexFunc(all, func(p *config.Profile) bool { return p.Name == name })
		if i < 0 {
			_, err := config.Load(file, name)
			return nil, cmp.Or(err, error(bgerr.New(bgerr.KindUsage, "profile "+name+" is not a bg-agent profile", "name a profile with bg_ keys")))
		}
		if all[i].Approvals == 0 {
			return nil, bgerr.New(bgerr.KindUsage, "profile "+name+" needs no approvals", "declare without --profile, or name profiles with bg_approvals")
		}
		scope = append(scope, all[i])
	}
	if len(only) == 0 {
		for _, p := range all {
			if p.Approvals > 0 {
				scope = append(scope, p)
			}
		}
		if len(scope) == 0 && len(errs) > 0 {
			// A broken profile might be one that needs approvals: say so
			// rather than open a window that cannot be used.
			return nil, errs[0]
		}
	}
	for _, p := range scope[min(1, len(scope)):] {
		if p.Kit != scope[0].Kit || p.Operator != scope[0].Operator || declare.Principal(p) != declare.Principal(scope[0]) || !sameApprovers(p, scope[0]) {
			return nil, bgerr.New(bgerr.KindUsage, fmt.Sprintf("profiles %s and %s need approvals under different kits, operators or approver lists", scope[0].Name, p.Name),
				"declare for one of them: bg-agent declare --reason … --profile NAME")
		}
	}
	return scope, nil
}

func sameApprovers(p, q *config.Profile) bool {
	return slices.EqualFunc(p.Approvers, q.Approvers, func(a, b approval.Approver) bool { return a.Name == b.Name && a.Key.Equal(b.Key) })
}

// requestFor makes the approval request of a new declaration d over scope.
// A user key stored dual-sealed (whatever the kit says) puts its approver
// shares in the request, or no approval could release it.
func (a *appCtx) requestFor(d declare.Declaration, scope []*config.Profile) (*approval.Request, *ecdh.PrivateKey, error) {
	req := approval.Request{Kit: scope[0].Kit, Operator: scope[0].Operator, User: declare.Principal(scope[0]),
		Reason: d.Reason, Ticket: d.Ticket, At: d.At, NotAfter: d.Until}
	dual := false
	for _, p := range scope {
		if role := declare.FinalRole(p); !slices.Contains(req.Scope, role) {
			req.Scope = append(req.Scope, role)
		}
		dual = dual || p.DualControl
	}
	st, err := a.openStore()
	if err != nil {
		return nil, nil, err
	}
	item, err := st.Dual(req.User)
	switch {
	case err != nil && !dual && bgerr.KindOf(err) == bgerr.KindNoSecret:
		// Not stored yet: the request needs no shares; process will say.
	case err != nil:
		return nil, nil, err
	case item != nil:
		req.Shares = item.ApproverShares()
	case dual:
		return nil, nil, bgerr.New(bgerr.KindUsage, "the kit puts the key of "+req.User+" under dual control, and it is not stored dual-sealed",
			"store it again with: bg-agent add --seal --dual "+req.User)
	}
	return approval.NewRequest(req)
}

// keepRequestKey stores the request's private key once the declaration is
// recorded and saved; only a dual-sealed key's release needs it.
func (a *appCtx) keepRequestKey(priv *ecdh.PrivateKey) error {
	st, err := a.openStore()
	if err != nil {
		return err
	}
	secret := priv.Bytes()
	defer clear(secret)
	return st.PutPrivate(keystore.RequestKey, secret, "approval request key")
}

// requestKey is the pending declaration's private request key.
func (a *appCtx) requestKey(st *keystore.Store) (*ecdh.PrivateKey, error) {
	b, err := st.GetPrivate(keystore.RequestKey)
	if errors.Is(err, keystore.ErrNoPrivate) {
		return nil, bgerr.New(bgerr.KindNoSecret, "the request key of this declaration is not in the keystore",
			`declare again: bg-agent declare --reason "…" --ticket …, and send the new request code`)
	}
	if err != nil {
		return nil, err
	}
	defer clear(b)
	return ecdh.X25519().NewPrivateKey(b)
}

// pending is the open declaration with its request, and the profiles the
// request covers.
type pending struct {
	dir   string
	d     *declare.Declaration
	r     *approval.Request
	scope []*config.Profile
}

func (a *appCtx) pendingRequest(now time.Time) (*pending, error) {
	dir, err := a.stateDir()
	if err != nil {
		return nil, err
	}
	d, err := declare.Load(dir)
	if err != nil {
		return nil, err
	}
	if !d.Active(now) {
		return nil, bgerr.New(bgerr.KindUsage, "no emergency is declared", `declare one first: bg-agent declare --reason "…" --ticket …`)
	}
	if d.Request == "" {
		return nil, bgerr.New(bgerr.KindUsage, "the open declaration asks for no approvals (no profile in it has bg_approvals)",
			"approvals are needed only for profiles whose kit sets approvals")
	}
	r, err := approval.ParseRequest(d.Request)
	if err != nil {
		return nil, err
	}
	// The profiles the request covers, whatever other kits the config
	// holds (approvalScope's one-kit rule is for making a request).
	file, err := a.configFile()
	if err != nil {
		return nil, err
	}
	all, _ := config.LoadAll(file)
	var scope []*config.Profile
	for _, p := range all {
		if p.Approvals == 0 {
			continue
		}
		if r.Covers(declare.FinalRole(p)) && declare.Principal(p) == r.User && p.Operator == r.Operator && p.Kit == r.Kit {
			scope = append(scope, p)
		}
	}
	if len(scope) == 0 {
		return nil, bgerr.New(bgerr.KindConfig, "no profile in the AWS config is in the declaration's scope any more",
			`declare again: bg-agent declare --reason "…" --ticket …`)
	}
	return &pending{dir: dir, d: d, r: r, scope: scope}, nil
}

// needed is the most approvals a profile in scope needs.
func (p *pending) needed() int {
	n := 0
	for _, pr := range p.scope {
		n = max(n, pr.Approvals)
	}
	return n
}

// dual: the key is dual-sealed (the request carries its shares) or the kit says it must be.
func (p *pending) dual() bool {
	return len(p.r.Shares) > 0 || slices.ContainsFunc(p.scope, func(pr *config.Profile) bool { return pr.DualControl })
}

func (p *pending) names() string {
	var n []string
	for _, pr := range p.scope {
		n = append(n, pr.Name)
	}
	return strings.Join(n, ", ")
}

// addApprovals is declare --approval: each code is checked against the
// request and the kit's approvers, recorded, then kept with the declaration.
func (a *appCtx) addApprovals(codes []string) error {
	now := time.Now()
	pd, err := a.pendingRequest(now)
	if err != nil {
		return err
	}
	log, err := a.auditLog()
	if err != nil {
		return err
	}
	approvers := pd.scope[0].Approvers
	var reqKey *ecdh.PrivateKey
	for _, code := range splitCodes(codes) {
		rec := audit.Record{Event: audit.EventApproval, BGUser: declare.IAMUser(pd.r.User), Request: pd.r.Fingerprint(), Reason: pd.d.Reason, Ticket: pd.d.Ticket}
		refuse := func(err error) error {
			rec.Result, rec.Error = audit.ResultRefused, err.Error()
			if aerr := log.Append(rec); aerr != nil {
				a.ui.Warnf("%v", aerr)
			}
			return err
		}
		ap, err := approval.ParseApproval(code)
		if err != nil {
			return refuse(err)
		}
		rec.ApprovedBy, rec.Approvals = []string{ap.Approver}, []string{ap.ID}
		who, err := pd.r.Check(ap, approvers, now)
		if err != nil {
			return refuse(err)
		}
		st := approval.Evaluate(pd.r, pd.d.Approvals, approvers, pd.needed(), now)
		if own, err := a.approver(); err == nil && ap.KeyID == mustKeyID(own.Key) {
			// The kit may list the requester's approver key under another
			// name: an approval from this machine's own key is his own.
			return refuse(bgerr.New(bgerr.KindUsage, fmt.Sprintf("the approval of %s is signed with this machine's own approver key: you cannot approve your own request", who.Name),
				"ask another approver: "+strings.Join(st.Next, ", then ")))
		}
		if slices.ContainsFunc(st.Valid, func(v approval.Valid) bool { return v.Approval.ID == ap.ID }) {
			a.ui.Infof("the approval %s of %s was added already", ap.ID, who.Name)
			continue
		}
		if slices.ContainsFunc(st.Valid, func(v approval.Valid) bool { return v.Approver.Name == who.Name }) {
			return refuse(bgerr.New(bgerr.KindUsage, who.Name+" has approved this declaration already: a second approval of theirs does not count",
				"ask the next approver: "+strings.Join(st.Next, ", then ")))
		}
		if pd.dual() {
			if reqKey == nil {
				store, err := a.openStore()
				if err != nil {
					return err
				}
				if reqKey, err = a.requestKey(store); err != nil {
					return err
				}
			}
			half, err := ap.OpenShare(pd.r, reqKey)
			if err != nil {
				return refuse(bgerr.New(bgerr.KindUsage, fmt.Sprintf("the approval of %s does not release the dual-controlled key of %s", who.Name, pd.r.User),
					"ask "+who.Name+" to approve this request code again with a bg-agent that knows dual control"))
			}
			clear(half)
		}
		rec.Result = audit.ResultAdded
		if err := log.Append(rec); err != nil {
			return err
		}
		pd.d.Approvals = append(pd.d.Approvals, strings.Join(strings.Fields(code), ""))
		if err := declare.Save(pd.dir, *pd.d); err != nil {
			return err
		}
		a.ui.Infof("added the approval of %s (%s), valid until %s", who.Name, ap.ID, ap.NotAfter.Local().Format("15:04 Jan 2"))
	}
	a.approvalStatus(pd, now)
	return nil
}

func mustKeyID(line string) string {
	k, err := approval.ParsePublicKey(line)
	if err != nil {
		return ""
	}
	return k.ID()
}

// splitCodes separates codes given together (stdin may hold several, each
// wrapped over lines).
func splitCodes(args []string) []string {
	var out []string
	for _, arg := range args {
		s := strings.Join(strings.Fields(arg), "")
		for s != "" {
			i := strings.Index(s[1:], approval.ApprovalPrefix)
			if i < 0 {
				out = append(out, s)
				break
			}
			out = append(out, s[:i+1])
			s = s[i+1:]
		}
	}
	return out
}

// approvalStatus says, per profile in scope, whether it can be used.
func (a *appCtx) approvalStatus(pd *pending, now time.Time) {
	for _, p := range pd.scope {
		st := approval.Evaluate(pd.r, pd.d.Approvals, p.Approvers, p.Approvals, now)
		switch {
		case st.Missing() == 0:
			a.ui.Infof("%s: approved (%d of %d)", p.Name, len(st.Valid), p.Approvals)
		case !pd.d.SelfApproved.IsZero() && declare.SelfApprovable(p, pd.r, pd.d.SelfApproved) == nil:
			a.ui.Infof("%s: SELF-APPROVED", p.Name)
		default:
			a.ui.Infof("%s: %d of %d approvals; next to ask: %s", p.Name, len(st.Valid), p.Approvals, strings.Join(st.Next, ", then "))
		}
	}
}

// selfApprove is declare --self-approve: allowed by the kit, after
// self_approval_after, never under dual control, and loud.
func (a *appCtx) selfApprove() error {
	now := time.Now()
	pd, err := a.pendingRequest(now)
	if err != nil {
		return err
	}
	log, err := a.auditLog()
	if err != nil {
		return err
	}
	rec := audit.Record{Event: audit.EventSelfApproval, BGUser: declare.IAMUser(pd.r.User), Request: pd.r.Fingerprint(), Reason: pd.d.Reason,
		Ticket: pd.d.Ticket, SelfApproved: true}
	for _, p := range pd.scope {
		if err := declare.SelfApprovable(p, pd.r, now); err != nil {
			rec.Result, rec.Error = audit.ResultRefused, err.Error()
			if aerr := log.Append(rec); aerr != nil {
				a.ui.Warnf("%v", aerr)
			}
			return err
		}
	}
	rec.Result = audit.ResultAdded
	if err := log.Append(rec); err != nil {
		return err
	}
	pd.d.SelfApproved = now.UTC()
	if err := declare.Save(pd.dir, *pd.d); err != nil {
		return err
	}
	a.ui.Noticef("SELF-APPROVED: nobody approved request %s in time; every session of %s is tagged bg-agent:self-approved and announced as such",
		pd.r.Fingerprint(), pd.names())
	a.announceSelfApproval(pd, rec)
	a.approvalStatus(pd, now)
	return nil
}
