// Extracts from GitHub's REST API description exactly the operations the github connector
// calls (responses with schemas and examples, documented status codes, parameters and the
// per-operation metadata), and from Octokit's recorded fixtures the recorded exchanges of
// those operations. Run by regen.sh; see PROVENANCE.md.
import fs from "node:fs";
import path from "node:path";

const [openapiDir, fixturesDir, outDir, openapiVersion, fixturesVersion] = process.argv.slice(2);

// The operations the connector calls: [description, method, path template].
// The audit log exists on GitHub Enterprise Cloud only, so it comes from that description.
const operations = [
  ["api.github.com", "get", "/orgs/{org}"],
  ["api.github.com", "get", "/orgs/{org}/members"],
  ["api.github.com", "get", "/orgs/{org}/outside_collaborators"],
  ["api.github.com", "get", "/orgs/{org}/actions/permissions"],
  ["api.github.com", "get", "/orgs/{org}/actions/permissions/selected-actions"],
  ["api.github.com", "get", "/orgs/{org}/actions/permissions/workflow"],
  ["api.github.com", "get", "/orgs/{org}/hooks"],
  ["ghec", "get", "/orgs/{org}/audit-log"],
  ["api.github.com", "get", "/orgs/{org}/repos"],
  ["api.github.com", "get", "/orgs/{org}/dependabot/alerts"],
  ["api.github.com", "get", "/orgs/{org}/code-scanning/alerts"],
  ["api.github.com", "get", "/orgs/{org}/secret-scanning/alerts"],
  ["api.github.com", "get", "/repos/{owner}/{repo}/branches/{branch}/protection"],
  ["api.github.com", "get", "/repos/{owner}/{repo}/branches/{branch}/protection/required_signatures"],
  ["api.github.com", "get", "/repos/{owner}/{repo}/rulesets"],
  ["api.github.com", "get", "/repos/{owner}/{repo}/rulesets/{ruleset_id}"],
  ["api.github.com", "get", "/repos/{owner}/{repo}/rules/branches/{branch}"],
  ["api.github.com", "get", "/repos/{owner}/{repo}/collaborators"],
  ["api.github.com", "get", "/repos/{owner}/{repo}/vulnerability-alerts"],
  ["api.github.com", "get", "/repos/{owner}/{repo}/contents/{path}"],
  ["api.github.com", "get", "/rate_limit"],
  ["api.github.com", "post", "/app/installations/{installation_id}/access_tokens"],
];

// The recorded scenarios with exchanges of those operations.
const scenarios = ["branch-protection", "get-organization", "add-and-remove-repository-collaborator", "get-content"];

const descriptions = {};
const load = (name) =>
  (descriptions[name] ??= JSON.parse(fs.readFileSync(path.join(openapiDir, "generated", name + ".deref.json"), "utf8")));

// classicScopes reads the OAuth scopes the operation's description names for classic tokens
// ("need the `admin:org` scope", "need `admin:org_hook` scope", "the `repo` or
// `security_events` scope"), so tests can hold the connector's declarations against them.
// A sentence that joins scopes with "or" lists alternatives (any_of); otherwise each
// named scope is needed (all_of). The sentence is kept as the description says it.
function classicScopes(text) {
  for (const sentence of (text || "").split(/\n\n|(?<=\.)\s/)) {
    if (!/personal access tokens \(classic\)/.test(sentence)) continue;
    const scopes = new Set();
    for (const m of sentence.matchAll(/`([a-z_:]+)`/g)) scopes.add(m[1]);
    if (scopes.size === 0) continue;
    const list = [...scopes].sort();
    return / or `/.test(sentence) ? { any_of: list, sentence } : { all_of: list, sentence };
  }
  return null;
}

const fileName = (opId) => opId.replace(/[^A-Za-z0-9.-]+/g, "_") + ".json";
fs.mkdirSync(path.join(outDir, "openapi"), { recursive: true });
const index = [];
for (const [desc, method, p] of operations) {
  const d = load(desc);
  const op = d.paths[p]?.[method];
  if (!op) throw new Error(`${desc}: ${method.toUpperCase()} ${p} is not in the description`);
  const out = {
    description_file: `${desc}.deref.json`,
    openapi_version: d.openapi,
    method: method.toUpperCase(),
    path: p,
    operationId: op.operationId,
    summary: op.summary,
    description: op.description,
    "x-github": op["x-github"],
    classic_token_scopes: classicScopes(op.description),
    parameters: op.parameters ?? [],
    responses: op.responses,
  };
  fs.writeFileSync(path.join(outDir, "openapi", fileName(op.operationId)), JSON.stringify(out, null, 1) + "\n");
  index.push({ method: out.method, path: p, operationId: op.operationId, file: "openapi/" + fileName(op.operationId), statuses: Object.keys(op.responses) });
}

fs.mkdirSync(path.join(outDir, "fixtures"), { recursive: true });
const recorded = [];
for (const s of scenarios) {
  const f = JSON.parse(fs.readFileSync(path.join(fixturesDir, "scenarios", "api.github.com", s, "normalized-fixture.json"), "utf8"));
  f.forEach((x, i) => {
    // Only reads of the operations above, and the protection the PUT answers with (the same
    // resource, as recorded after protecting the branch).
    const m = x.method.toUpperCase();
    const match = index.find((o) => new RegExp("^" + o.path.replace(/\{[^}]+\}/g, "[^/]+") + "$").test(x.path.split("?")[0]));
    const protection = m === "PUT" && /\/branches\/[^/]+\/protection$/.test(x.path);
    if (!(m === "GET" && match) && !protection) return;
    const name = `${s}-${i}.json`;
    fs.writeFileSync(path.join(outDir, "fixtures", name), JSON.stringify({ scenario: s, index: i, method: m, path: x.path, status: x.status, response: x.response }, null, 1) + "\n");
    recorded.push({ file: "fixtures/" + name, method: m, path: x.path, status: x.status, operationId: match?.operationId ?? null });
  });
}

fs.writeFileSync(
  path.join(outDir, "index.json"),
  JSON.stringify({ openapi_package: "@octokit/openapi@" + openapiVersion, fixtures_package: "@octokit/fixtures@" + fixturesVersion, operations: index, recorded }, null, 1) + "\n",
);
