#!/usr/bin/env node
// A real SAML 2.0 identity provider for the tests of Gatehouse's SAML service provider (src/saml): samlify builds
// and signs the responses, parses our AuthnRequests and our metadata; this file only chooses what to put in them,
// and, on request, spoils them after signing the way an attacker would. See README.md for the commands.
//
// Everything useful goes to stdout; errors go to stderr with a non-zero exit, so the C++ tests can tell them apart.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import samlify from 'samlify';

const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
};
const BINDING = {
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
};
const NAMEID_UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';

class UsageError extends Error {}

// --- command line -------------------------------------------------------------------------------------------------

// Flags that take no value; every other --flag takes the next word.
const SWITCHES = new Set(['other-key', 'encrypt', 'want-authn-requests-signed', 'xml']);

function parseArgs(argv) {
  const positional = [];
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const name = a.slice(2);
    if (SWITCHES.has(name)) {
      flags[name] = true;
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      flags[name] = argv[++i];
    }
  }
  return { positional, flags };
}

function required(flags, name) {
  if (flags[name] === undefined || flags[name] === '') throw new UsageError(`--${name} is required`);
  return flags[name];
}

function oneOf(flags, name, allowed, fallback) {
  const v = flags[name] ?? fallback;
  if (v !== undefined && !allowed.includes(v)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}`);
  return v;
}

function integer(flags, name, fallback) {
  if (flags[name] === undefined) return fallback;
  if (!/^-?\d+$/.test(flags[name])) throw new UsageError(`--${name} must be an integer`);
  return Number(flags[name]);
}

// --- keys ---------------------------------------------------------------------------------------------------------

// A self-signed RSA 2048 certificate and its key, made by the openssl CLI (node:crypto cannot issue certificates).
function makeKeyPair(dir, name, commonName) {
  const key = path.join(dir, `${name}.key`);
  const crt = path.join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '3650',
    '-subj', `/CN=${commonName}`, '-keyout', key, '-out', crt], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { key: fs.readFileSync(key, 'utf8'), cert: fs.readFileSync(crt, 'utf8') };
}

function withTempDir(fn) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-idp-'));
  try {
    return fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function readIdpFiles(dir) {
  const read = (name, hint) => {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) throw new UsageError(`${file} is missing: run '${hint}' first`);
    return fs.readFileSync(file, 'utf8');
  };
  return {
    key: read('idp.key', `idp.mjs keys ${dir}`),
    cert: read('idp.crt', `idp.mjs keys ${dir}`),
    metadata: read('idp-metadata.xml', `idp.mjs metadata ${dir} ...`),
  };
}

// --- commands -----------------------------------------------------------------------------------------------------

function cmdKeys(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const key = path.join(dir, 'idp.key');
  const crt = path.join(dir, 'idp.crt');
  if (!fs.existsSync(key) || !fs.existsSync(crt)) makeKeyPair(dir, 'idp', 'gatehouse-test-idp');
  process.stdout.write(`${key}\n${crt}\n`);
}

function idpEntity({ entityID, ssoUrl, wantAuthnRequestsSigned, key, cert, encrypt }) {
  return samlify.IdentityProvider({
    entityID,
    signingCert: cert,
    privateKey: key,
    wantAuthnRequestsSigned,
    nameIDFormat: [NAMEID_UNSPECIFIED],
    singleSignOnService: [
      { Binding: BINDING.redirect, Location: ssoUrl },
      { Binding: BINDING.post, Location: ssoUrl },
    ],
    isAssertionEncrypted: encrypt,
  });
}

function cmdMetadata(dir, flags) {
  const entityID = required(flags, 'entity-id');
  const ssoUrl = required(flags, 'sso-url');
  const cert = fs.readFileSync(path.join(dir, 'idp.crt'), 'utf8');
  const xml = idpEntity({ entityID, ssoUrl, wantAuthnRequestsSigned: !!flags['want-authn-requests-signed'], cert })
    .getMetadata();
  // `respond` reads it back: the IdP's own entity ID, SSO URL and whether it wants signed AuthnRequests.
  fs.writeFileSync(path.join(dir, 'idp-metadata.xml'), xml);
  process.stdout.write(`${xml}\n`);
}

// The AuthnRequest in an HTTP-Redirect URL, parsed and checked by samlify as an IdP would (schema, and the
// signature when the IdP's metadata says it wants signed requests); also checks what samlify leaves to the
// application: the request comes from this SP and names an ACS URL from its metadata.
async function parseAuthnRequest(idp, sp, spMeta, url) {
  const { default: validator } = await import('@authenio/samlify-node-xmllint');
  samlify.setSchemaValidator(validator);
  // samlify wants the query as a web framework gives it (decoded), and the signed octets as they were sent: every
  // parameter but Signature, in their order (saml-bindings §3.4.4.1).
  const query = {};
  const signed = [];
  for (const part of new URL(url).search.slice(1).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq);
    query[name] = decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
    if (name !== 'Signature') signed.push(part);
  }
  const octetString = signed.join('&');
  const parsed = await idp.parseLoginRequest(sp, 'redirect', { query, octetString });
  const request = parsed.extract.request;
  if (parsed.extract.issuer !== spMeta.getEntityID()) {
    throw new Error(`the AuthnRequest's issuer ${parsed.extract.issuer} is not the SP ${spMeta.getEntityID()}`);
  }
  const acs = request.assertionConsumerServiceUrl;
  if (acs && acs !== spMeta.getAssertionConsumerService('post')) {
    throw new Error(`the AuthnRequest asks for ACS ${acs}, which the SP's metadata does not name`);
  }
  return request.id;
}

// The Response template: samlify's placeholders ({Name}) are filled, XML-escaped, by samlify's replaceTagsByValue.
function responseTemplate({ inResponseTo, success, subStatusCode, groupCount }) {
  const irt = inResponseTo ? ' InResponseTo="{InResponseTo}"' : '';
  const status = subStatusCode
    ? `<samlp:StatusCode Value="{StatusCode}"><samlp:StatusCode Value="{SubStatusCode}"/></samlp:StatusCode>`
    : `<samlp:StatusCode Value="{StatusCode}"/>`;
  const groups = Array.from({ length: groupCount }, (_, i) =>
    `<saml:AttributeValue xsi:type="xs:string">{Group${i}}</saml:AttributeValue>`).join('');
  const assertion = !success ? '' :
    '<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ' +
    'xmlns:xs="http://www.w3.org/2001/XMLSchema" ' +
    'ID="{AssertionID}" Version="2.0" IssueInstant="{IssueInstant}"><saml:Issuer>{Issuer}</saml:Issuer>' +
    '<saml:Subject><saml:NameID Format="{NameIDFormat}">{NameID}</saml:NameID>' +
    '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">' +
    `<saml:SubjectConfirmationData NotOnOrAfter="{NotOnOrAfter}" Recipient="{Recipient}"${irt}/>` +
    '</saml:SubjectConfirmation></saml:Subject>' +
    '<saml:Conditions NotBefore="{NotBefore}" NotOnOrAfter="{NotOnOrAfter}">' +
    '<saml:AudienceRestriction><saml:Audience>{Audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>' +
    '<saml:AuthnStatement AuthnInstant="{IssueInstant}" SessionIndex="{SessionIndex}" ' +
    'SessionNotOnOrAfter="{SessionNotOnOrAfter}">' +
    '<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport' +
    '</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>' +
    '<saml:AttributeStatement>' +
    '<saml:Attribute Name="email" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">' +
    '<saml:AttributeValue xsi:type="xs:string">{Email}</saml:AttributeValue></saml:Attribute>' +
    '<saml:Attribute Name="groups" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">' +
    `${groups}</saml:Attribute>` +
    '</saml:AttributeStatement></saml:Assertion>';
  return '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ' +
    'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ' +
    `ID="{ID}" Version="2.0" IssueInstant="{IssueInstant}" Destination="{Destination}"${irt}>` +
    `<saml:Issuer>{Issuer}</saml:Issuer><samlp:Status>${status}</samlp:Status>${assertion}</samlp:Response>`;
}

function statusUrn(code) {
  return code.startsWith('urn:') ? code : `urn:oasis:names:tc:SAML:2.0:status:${code}`;
}

// --- spoiling a signed response -------------------------------------------------------------------------------------

const firstElement = (parent, ns, name) => parent.getElementsByTagNameNS(ns, name)[0];
const childElements = (parent, ns, name) =>
  Array.from(parent.childNodes).filter((n) => n.nodeType === 1 && n.namespaceURI === ns && n.localName === name);

function assertionOf(doc) {
  const a = childElements(doc.documentElement, NS.assertion, 'Assertion')[0];
  if (!a) throw new UsageError('the response has no (clear) assertion to change');
  return a;
}

function groupValues(assertion) {
  const attr = Array.from(assertion.getElementsByTagNameNS(NS.assertion, 'Attribute'))
    .find((a) => a.getAttribute('Name') === 'groups');
  return attr ? childElements(attr, NS.assertion, 'AttributeValue') : [];
}

function setText(element, text) {
  while (element.firstChild) element.removeChild(element.firstChild);
  element.appendChild(element.ownerDocument.createTextNode(text));
}

// Splits an element's text with a comment: exclusive C14N drops comments, so the signature still verifies, and a
// reader that takes only the first text node sees a shorter name (the 2018 "comment truncation" attack).
function splitWithComment(element) {
  const text = element.textContent;
  const cut = Math.max(1, Math.floor(text.length / 2));
  while (element.firstChild) element.removeChild(element.firstChild);
  const doc = element.ownerDocument;
  element.appendChild(doc.createTextNode(text.slice(0, cut)));
  element.appendChild(doc.createComment('x'));
  element.appendChild(doc.createTextNode(text.slice(cut)));
}

function tamper(doc, what) {
  const assertion = assertionOf(doc);
  switch (what) {
    case 'nameid':
      setText(firstElement(assertion, NS.assertion, 'NameID'), 'admin');
      break;
    case 'group': {
      const values = groupValues(assertion);
      if (values.length === 0) throw new UsageError('--tamper-after-sign group needs --groups');
      setText(values[0], 'admins');
      break;
    }
    case 'addattr': {
      const statement = firstElement(assertion, NS.assertion, 'AttributeStatement');
      const attr = doc.createElementNS(NS.assertion, 'saml:Attribute');
      attr.setAttribute('Name', 'groups');
      const value = doc.createElementNS(NS.assertion, 'saml:AttributeValue');
      value.appendChild(doc.createTextNode('admins'));
      attr.appendChild(value);
      statement.appendChild(attr);
      break;
    }
    case 'comment': {
      splitWithComment(firstElement(assertion, NS.assertion, 'NameID'));
      for (const v of groupValues(assertion)) splitWithComment(v);
      break;
    }
    default:
      throw new UsageError(`unknown --tamper-after-sign ${what}`);
  }
}

// XML signature wrapping: a forged copy of the signed assertion names admin (groups: admins).
//   before, after: the forged copy, unsigned and with its own ID, beside the original.
//   wrap: the forged copy takes the original's place, keeps its ID and signature, and hides the original in its
//         Advice, so that a verifier resolving the signature's reference by ID could land on the original.
function injectAssertion(doc, where) {
  const original = assertionOf(doc);
  const forged = original.cloneNode(true);
  setText(firstElement(forged, NS.assertion, 'NameID'), 'admin');
  for (const v of groupValues(forged)) setText(v, 'admins');
  if (where === 'wrap') {
    const advice = doc.createElementNS(NS.assertion, 'saml:Advice');
    const conditions = firstElement(forged, NS.assertion, 'Conditions');
    forged.insertBefore(advice, conditions.nextSibling);
    doc.documentElement.replaceChild(forged, original);
    advice.appendChild(original);
    return;
  }
  forged.setAttribute('ID', `_${randomUUID()}`);
  for (const sig of childElements(forged, NS.dsig, 'Signature')) forged.removeChild(sig);
  doc.documentElement.insertBefore(forged, where === 'before' ? original : original.nextSibling);
}

function stripSignatures(doc) {
  for (const sig of Array.from(doc.getElementsByTagNameNS(NS.dsig, 'Signature'))) sig.parentNode.removeChild(sig);
}

// --- respond ------------------------------------------------------------------------------------------------------

async function cmdRespond(dir, flags) {
  const spMetadataXml = fs.readFileSync(required(flags, 'sp-metadata'), 'utf8');
  const user = required(flags, 'user');
  const email = flags.email ?? '';
  const groups = (flags.groups ?? '').split(',').filter((g) => g !== '');
  const sign = oneOf(flags, 'sign', ['response', 'assertion', 'both', 'none'], 'assertion');
  const tamperWhat = oneOf(flags, 'tamper-after-sign', ['nameid', 'group', 'addattr', 'comment']);
  const inject = oneOf(flags, 'inject-assertion', ['before', 'after', 'wrap']);
  const lifetime = integer(flags, 'not-on-or-after-seconds', 300);
  const notBeforeOffset = integer(flags, 'not-before-seconds', 0);
  const [statusCode, subStatusCode] = (flags.status ?? 'Success').split('/');
  const success = statusCode === 'Success';

  const files = readIdpFiles(dir);
  const idpMeta = samlify.IdPMetadata(files.metadata);
  const spMeta = samlify.SPMetadata(spMetadataXml);
  const acs = spMeta.getAssertionConsumerService('post');
  if (!acs) throw new UsageError('the SP metadata names no HTTP-POST AssertionConsumerService');

  // Who signs: the IdP's key, or (--other-key) a fresh key whose certificate also goes into the signature's
  // KeyInfo, as an attacker would send it.
  const signer = flags['other-key']
    ? withTempDir((tmp) => makeKeyPair(tmp, 'other', 'someone-else'))
    : { key: files.key, cert: files.cert };
  const encryptCert = flags.encrypt
    ? withTempDir((tmp) => makeKeyPair(tmp, 'enc', 'gatehouse-test-sp-encryption')).cert
    : undefined;

  const idp = idpEntity({
    entityID: idpMeta.getEntityID(),
    ssoUrl: idpMeta.getSingleSignOnService('redirect'),
    wantAuthnRequestsSigned: idpMeta.isWantAuthnRequestsSigned(),
    key: signer.key,
    cert: signer.cert,
    encrypt: !!flags.encrypt,
  });
  // samlify signs the assertion when the SP wants signed assertions, and the whole message when it wants signed
  // messages (or not signed assertions): the SP is built from its metadata's names and URLs, with --sign deciding.
  const signAssertion = success && (sign === 'assertion' || sign === 'both');
  const sp = samlify.ServiceProvider({
    entityID: spMeta.getEntityID(),
    assertionConsumerService: [{ Binding: BINDING.post, Location: acs }],
    signingCert: spMeta.getX509Certificate('signing') ?? undefined,
    encryptCert,
    wantAssertionsSigned: signAssertion,
    wantMessageSigned: !signAssertion || sign === 'both',
  });

  let inResponseTo = flags['in-response-to'];
  if (flags.request) inResponseTo = await parseAuthnRequest(idp, sp, spMeta, flags.request);

  const now = Date.now();
  const iso = (ms) => new Date(ms).toISOString();
  const values = {
    ID: `_${randomUUID()}`,
    AssertionID: `_${randomUUID()}`,
    IssueInstant: iso(now),
    Destination: flags.destination ?? acs,
    Recipient: flags.recipient ?? acs,
    Issuer: flags.issuer ?? idpMeta.getEntityID(),
    Audience: flags.audience ?? spMeta.getEntityID(),
    InResponseTo: inResponseTo,
    StatusCode: statusUrn(statusCode),
    SubStatusCode: subStatusCode ? statusUrn(subStatusCode) : undefined,
    NameIDFormat: NAMEID_UNSPECIFIED,
    NameID: user,
    NotBefore: iso(now + notBeforeOffset * 1000),
    NotOnOrAfter: iso(now + lifetime * 1000),
    SessionIndex: `_${randomUUID()}`,
    SessionNotOnOrAfter: iso(now + 8 * 3600 * 1000),
    Email: email,
  };
  groups.forEach((g, i) => { values[`Group${i}`] = g; });
  const template = responseTemplate({ inResponseTo, success, subStatusCode, groupCount: groups.length });

  const { context } = await idp.createLoginResponse(sp, {}, 'post', { email }, (_t) => ({
    id: values.ID,
    context: samlify.SamlLib.replaceTagsByValue(template, values),
  }));

  let xml = Buffer.from(context, 'base64').toString('utf8');
  if (sign === 'none' || tamperWhat || inject) {
    const doc = new DOMParser().parseFromString(xml, 'text/xml');
    if (sign === 'none') stripSignatures(doc);
    if (tamperWhat) tamper(doc, tamperWhat);
    if (inject) injectAssertion(doc, inject);
    xml = new XMLSerializer().serializeToString(doc);
  }
  process.stdout.write(flags.xml ? `${xml}\n` : `${Buffer.from(xml, 'utf8').toString('base64')}\n`);
}

// --- main ---------------------------------------------------------------------------------------------------------

const USAGE = `usage:
  node idp.mjs keys DIR
  node idp.mjs metadata DIR --entity-id ID --sso-url URL [--want-authn-requests-signed]
  node idp.mjs respond DIR --sp-metadata FILE --user NAME [--email E] [--groups a,b]
      [--in-response-to ID | --request AUTHN_REQUEST_REDIRECT_URL] [--audience X] [--recipient URL]
      [--destination URL] [--issuer X] [--status CODE[/SUBCODE]] [--not-on-or-after-seconds N]
      [--not-before-seconds N] [--sign response|assertion|both|none] [--other-key] [--encrypt]
      [--tamper-after-sign nameid|group|addattr|comment] [--inject-assertion before|after|wrap] [--xml]`;

async function main() {
  const { positional, flags } = parseArgs(process.argv.slice(2));
  const [command, dir] = positional;
  if (!command || !dir || positional.length > 2) throw new UsageError('expected a command and a directory');
  switch (command) {
    case 'keys': return cmdKeys(dir);
    case 'metadata': return cmdMetadata(dir, flags);
    case 'respond': return cmdRespond(dir, flags);
    default: throw new UsageError(`unknown command ${command}`);
  }
}

main().catch((err) => {
  process.stderr.write(`idp.mjs: ${err instanceof Error ? err.message : String(err)}\n`);
  if (err instanceof UsageError) process.stderr.write(`${USAGE}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
