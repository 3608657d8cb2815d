// Check Kubernetes objects against the API's schemas (kubernetes-models,
// and prometheus-operator's for ServiceMonitor): node validate.mjs FILE...
// (multi-document YAML, e.g. `kubectl kustomize deploy/k8s` output).
// Prints one line per object; exits 1 when any object is invalid (a
// missing required field, a value of the wrong type or format) or is of
// a kind it has no schema for.  The schemas let unknown fields pass, as
// the API server's non-strict validation does.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const modules = {
  "v1": "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "autoscaling/v2": "kubernetes-models/autoscaling/v2",
  "monitoring.coreos.com/v1":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};

let bad = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length) {
      console.log(`${file}: YAML: ${doc.errors[0].message}`);
      bad++;
      continue;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    const what = `${obj.apiVersion} ${obj.kind} ${obj.metadata?.name}`;
    const mod = modules[obj.apiVersion];
    if (!mod) {
      console.log(`${what}: no schema for apiVersion ${obj.apiVersion}`);
      bad++;
      continue;
    }
    const models = await import(mod);
    const Model = models[obj.kind];
    if (!Model) {
      console.log(`${what}: no schema for kind ${obj.kind}`);
      bad++;
      continue;
    }
    try {
      new Model(obj).validate();
      console.log(`${what}: ok`);
    } catch (e) {
      console.log(`${what}: ${e.message.split("\n").slice(0, 6).join(" | ")}`);
      bad++;
    }
  }
}
process.exit(bad ? 1 : 0);

