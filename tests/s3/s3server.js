#!/usr/bin/env node
// s3server: an S3 endpoint that verifies SigV4 signatures, for ckptd's tests.
//
//   node s3server.js --port-file F --directory DIR [--port 0] [--bucket NAME]...
//
// Runs @20minutes/s3rver 5 (install: npm install --prefix tests/s3) on
// 127.0.0.1. Port 0 picks a free one. Once listening, writes the port to F
// (atomically: a reader never sees half a number). Credentials: the s3rver
// defaults, access key S3RVER, secret S3RVER. Anonymous requests are let
// through by s3rver; a signed request with a wrong secret gets 403.
// Prints nothing unless it fails; exits 0 on SIGTERM or SIGINT.
'use strict'
const fs = require('node:fs')
const path = require('node:path')

function usage(msg) {
  process.stderr.write(`s3server: ${msg}\n` +
    'usage: node s3server.js --port-file F --directory DIR [--port N] [--bucket NAME]...\n')
  process.exit(2)
}

const opts = { port: 0, portFile: null, directory: null, buckets: [] }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  const val = () => {
    if (i + 1 >= argv.length) usage(`${a} needs a value`)
    return argv[++i]
  }
  if (a === '--port') opts.port = Number(val())
  else if (a === '--port-file') opts.portFile = val()
  else if (a === '--directory') opts.directory = val()
  else if (a === '--bucket') opts.buckets.push(val())
  else usage(`unknown argument '${a}'`)
}
if (!opts.portFile || !opts.directory) usage('--port-file and --directory are required')
if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage('bad --port')

let S3rver
try {
  S3rver = require(path.join(__dirname, 'node_modules', '@20minutes', 's3rver'))
} catch (err) {
  usage(`cannot load @20minutes/s3rver (run: npm install --prefix ${__dirname}): ${err.message}`)
}

fs.mkdirSync(opts.directory, { recursive: true })
const server = new S3rver({
  address: '127.0.0.1',
  port: opts.port,
  directory: opts.directory,
  silent: true,
  // Path-style only: the host is 127.0.0.1, so no bucket in the hostname.
  vhostBuckets: false,
  configureBuckets: opts.buckets.map((name) => ({ name })),
})

// Any key, as S3 takes it: s3rver 5 keeps a key as a file path, so "a/../x",
// "a//x" or "a/./x" would land elsewhere (path.join normalises them) and be
// listed under another name. Segments "", "." and ".." are stored as "%",
// "%." and "%.." ('%' itself as "%25"); a trailing "" (a prefix "p/", the
// delimiter "/") stays as it is.
const Store = server.store.constructor
Store.encodeKeyPath = (key) => {
  const segs = key.split('/')
  return segs
    .map((seg, i) => {
      if (i === segs.length - 1 && seg === '') return seg
      seg = seg.replace(/%/g, '%25')
      return seg === '' || seg === '.' || seg === '..' ? `%${seg}` : seg
    })
    .join('/')
}
Store.decodeKeyPath = (keyPath) =>
  keyPath
    .split('/')
    .map((seg) => (/^%\.{0,2}$/.test(seg) ? seg.slice(1) : seg.replace(/%25/g, '%')))
    .join('/')

// Checksums, which s3rver 5 does not keep: the part of S3's behaviour ckptd
// relies on. A PUT carrying x-amz-checksum-<algo> (crc32, crc32c,
// crc64nvme, sha1, sha256) keeps that value beside the object, in
// <object's resource path>._S3rver_checksum.json ({"algo", "value"}; a test
// may rewrite it to play a store that lies); a PUT without one drops it. As
// S3 does: a GET or HEAD asking with "x-amz-checksum-mode: ENABLED" gets
// x-amz-checksum-<algo> and x-amz-checksum-type: FULL_OBJECT back (not for
// a ranged GET), and ListObjectsV2 names ChecksumAlgorithm and ChecksumType
// of each object that has one. Values are not checked on upload.
const SUMS = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256']
function objectOf(ctx) {
  const m = /^\/([^/]+)\/(.+)$/.exec(ctx.path)
  if (!m) return null
  try {
    return { bucket: m[1], key: decodeURIComponent(m[2]) }
  } catch {
    return null
  }
}
function sumPath(bucket, key) {
  return server.store.getResourcePath(bucket, key, 'checksum.json')
}
function readSum(bucket, key) {
  try {
    return JSON.parse(fs.readFileSync(sumPath(bucket, key), 'utf8'))
  } catch {
    return null
  }
}
async function checksums(ctx, next) {
  await next()
  const obj = objectOf(ctx)
  const plainPut = ctx.method === 'PUT' && obj && !('uploadId' in ctx.query) &&
    !('partNumber' in ctx.query) && !ctx.get('x-amz-copy-source') &&
    Object.keys(ctx.query).length === 0
  if (plainPut && ctx.status === 200) {
    const algo = SUMS.find((a) => ctx.get(`x-amz-checksum-${a}`))
    if (algo)
      fs.writeFileSync(sumPath(obj.bucket, obj.key),
        JSON.stringify({ algo, value: ctx.get(`x-amz-checksum-${algo}`) }))
    else fs.rmSync(sumPath(obj.bucket, obj.key), { force: true })
  } else if ((ctx.method === 'GET' || ctx.method === 'HEAD') && obj && ctx.status === 200 &&
             ctx.get('x-amz-checksum-mode').toUpperCase() === 'ENABLED') {
    const sum = readSum(obj.bucket, obj.key)
    if (sum) {
      ctx.set(`x-amz-checksum-${sum.algo}`, sum.value)
      ctx.set('x-amz-checksum-type', 'FULL_OBJECT')
    }
  } else if (ctx.method === 'GET' && ctx.body && ctx.body.ListBucketResult &&
             Array.isArray(ctx.body.ListBucketResult.Contents)) {
    const bucket = ctx.body.ListBucketResult.Name
    for (const c of ctx.body.ListBucketResult.Contents) {
      const sum = readSum(bucket, c.Key)
      if (sum) {
        c.ChecksumAlgorithm = sum.algo.toUpperCase()
        c.ChecksumType = 'FULL_OBJECT'
      }
    }
  }
}
// Atomic overwrites, as S3's: s3rver 5 writes an object in place, so a GET
// in flight could send the old version's head with the new version's bytes.
// Here the bytes go to a file beside the data directory and are renamed over
// the object (a GET in flight keeps reading the version it opened), and the
// new ETag (s3rver's .md5 file) is written first: a request between the two
// steps sees the new ETag with the old bytes (a client notices the change),
// never the reverse.
const { Transform } = require('node:stream')
const { pipeline } = require('node:stream/promises')
const crypto = require('node:crypto')
const uploads = `${path.resolve(opts.directory)}.uploads`
fs.mkdirSync(uploads, { recursive: true })
let nUploads = 0
server.store.putContent = async function putContent(objectPath, content) {
  const tmp = path.join(uploads, `${process.pid}.${++nUploads}`)
  const md5 = crypto.createHash('md5')
  let size = 0
  const count = new Transform({
    transform(chunk, enc, cb) {
      md5.update(chunk)
      size += chunk.length
      cb(null, chunk)
    },
  })
  if (Buffer.isBuffer(content)) {
    md5.update(content)
    size = content.length
    fs.writeFileSync(tmp, content)
  } else {
    await pipeline(content, count, fs.createWriteStream(tmp))
  }
  const hex = md5.digest('hex')
  fs.writeFileSync(`${objectPath}.md5`, hex)
  fs.renameSync(tmp, objectPath)
  return [size, hex]
}

// Just before the router: after the XML encoder (a listing is still an
// object here) and the path-style/vhost rewrite.
server.middleware.splice(server.middleware.length - 1, 0, checksums)

let closing = false
function stop() {
  if (closing) return
  closing = true
  const done = () => process.exit(0)
  server.close().then(done, done)
  setTimeout(done, 2000).unref() // keep-alive clients must not hold us up
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)

server.run().then(
  (addr) => {
    const tmp = `${opts.portFile}.tmp`
    fs.writeFileSync(tmp, `${addr.port}\n`)
    fs.renameSync(tmp, opts.portFile)
  },
  (err) => {
    process.stderr.write(`s3server: ${err.message}\n`)
    process.exit(1)
  }
)
