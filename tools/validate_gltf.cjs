// Validates one .glb/.gltf file with the Khronos glTF validator; prints its report's issue counts and messages
// as JSON. Usage: node tools/validate_gltf.cjs FILE (the validator is installed in .tools/ by `make test`).
const fs = require("fs");
const path = require("path");
const validator = require(path.join(__dirname, "..", ".tools", "node_modules", "gltf-validator"));

const file = process.argv[2];
const bytes = new Uint8Array(fs.readFileSync(file));
const external = (uri) => Promise.resolve(new Uint8Array(fs.readFileSync(path.join(path.dirname(file), decodeURIComponent(uri)))));
validator
  .validateBytes(bytes, { uri: path.basename(file), externalResourceFunction: external })
  .then((report) => {
    const messages = report.issues.messages.map((m) => `${m.severity} ${m.code} ${m.pointer || ""}: ${m.message}`);
    console.log(JSON.stringify({ errors: report.issues.numErrors, warnings: report.issues.numWarnings, messages }));
  })
  .catch((error) => {
    console.error(String(error));
    process.exit(1);
  });
