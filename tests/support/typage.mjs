// typage (npm `age-encryption`) as a command, for the post-quantum interop tests:
//   node typage.mjs keygen            -> prints a hybrid identity, then its recipient
//   node typage.mjs rewrap ID RCPT    -> reads an armored age file on stdin, decrypts it
//                                        with identity ID, encrypts the same payload to
//                                        RCPT, prints it armored; the payload's length on
//                                        stderr
// The package is found in $TYPAGE_DIR (scripts/install-peers.sh installs it).
const dir = process.env.TYPAGE_DIR;
const age = await import(`${dir}/node_modules/age-encryption/dist/index.js`);
const [cmd, ...args] = process.argv.slice(2);
if (cmd === "keygen") {
  const id = await age.generateHybridIdentity();
  console.log(id);
  console.log(await age.identityToRecipient(id));
} else if (cmd === "rewrap") {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const armored = Buffer.concat(chunks).toString("utf8");
  const d = new age.Decrypter();
  d.addIdentity(args[0]);
  const payload = await d.decrypt(age.armor.decode(armored));
  const e = new age.Encrypter();
  e.addRecipient(args[1]);
  process.stdout.write(age.armor.encode(await e.encrypt(payload)));
  process.stderr.write(`${payload.length}\n`);
} else {
  console.error("usage: typage.mjs keygen | rewrap IDENTITY RECIPIENT");
  process.exit(2);
}
