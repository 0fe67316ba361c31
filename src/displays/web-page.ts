import { createHash } from 'node:crypto';

/**
 * The kiosk page: one self-contained document (inline CSS and JS, no external assets, works
 * offline), sized for a 7-inch 800x480 screen read from two metres and scaling with the viewport;
 * on a portrait screen the QR stacks above the text. It listens on `/events`, counts down by itself
 * against the server's clock, shows a subtle "Reconnecting" while the stream is down and picks up
 * again when the agent is back. Signed in, it shows who is (the allowed claims) and, when turned on,
 * a Sign out button with a confirm step; "Not signed in", a Sign in button. Both POST with the
 * page's token, which the stream renews when the agent restarts. Text is only ever set with
 * textContent. The script and style are allowed by hash in the CSP, nothing else is.
 */

const STYLE = `
*{box-sizing:border-box;margin:0}
html,body{height:100%}
body{background:#000;color:#fff;font:clamp(14px,3.6vmin,44px)/1.25 system-ui,sans-serif;display:flex;flex-direction:column;padding:2.5vmin 3.5vmin;gap:2vmin;overflow:hidden}
[hidden]{display:none!important}
header{display:flex;justify-content:space-between;gap:1em;color:#aaa;font-size:.85em}
#net{color:#fc4}
main{flex:1;min-height:0;display:flex;align-items:center;gap:4vmin}
#qrbox{height:100%;max-width:50vw;aspect-ratio:1}
#qr{display:block;width:100%;aspect-ratio:1;background:#fff;image-rendering:pixelated}
#info{flex:1;min-width:0;display:flex;flex-direction:column;gap:1.2vmin}
h1{font-size:1.9em;line-height:1.1}
.l{color:#aaa}
#url{font-weight:700;font-size:1.3em;overflow-wrap:anywhere}
#code{font:700 min(9vw,18vh)/1.1 ui-monospace,"DejaVu Sans Mono",monospace}
#url,#code{white-space:nowrap;overflow:hidden;max-width:100%}
#url.wrap{white-space:normal}
#left{font-size:1.3em;color:#fc4;font-variant-numeric:tabular-nums}
#who{display:grid;grid-template-columns:auto minmax(0,1fr);gap:.2em .8em;align-self:center;max-width:100%;text-align:left;font-size:.9em}
#who dt{color:#aaa}
#who dd{overflow-wrap:anywhere}
.acts{display:flex;flex-wrap:wrap;justify-content:center;gap:1em}
#who,.acts,#ask{margin-top:.4em}
#ask{display:flex;flex-direction:column;gap:.6em;align-items:center}
#q{font-size:1.2em;font-weight:600}
button{font:inherit;font-weight:600;min-width:48px;min-height:48px;padding:.4em 1.3em;border:2px solid #fff;border-radius:.4em;background:#fff;color:#000;cursor:pointer}
button.alt{background:#000;color:#fff}
button:focus-visible{outline:3px solid #fc4;outline-offset:3px}
button:disabled{opacity:.5}
#fail{color:#f77}
footer{color:#ddd;font-size:.8em;display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden}
body:not(.code) .c{display:none}
body:not(.code) main{justify-content:center;text-align:center}
body:not(.code) h1{font-size:3em}
body:not(.code) footer{font-size:1em;text-align:center;-webkit-line-clamp:4}
body[data-state=signed_in] h1{color:#6f6}
body[data-state=error] h1{color:#f77}
body.off main{opacity:.45}
@media (max-aspect-ratio:1/1){
main{flex-direction:column;justify-content:center}
#qrbox{flex:none;height:auto;width:min(100%,55vh);max-width:none}
#info{flex:none;width:100%;align-items:center;text-align:center}
}
`;

const SCRIPT = `"use strict";(()=>{
const $=i=>document.getElementById(i),b=document.body,tok=document.querySelector("meta[name=csrf]");
let m,off=0,es,again,was,asking=0,busy=0,gone=0;
const put=(i,v)=>{const e=$(i);if(e.textContent===v)return;e.textContent=v;if(i==="code"||i==="url")fit(e)};
function fit(e){e.style.fontSize="";e.classList.remove("wrap");if(!e.scrollWidth)return;
const f=parseFloat(getComputedStyle(e).fontSize),r=e.clientWidth/e.scrollWidth,min=e.id==="url"?16:24;
if(r<1)e.style.fontSize=Math.max(min,Math.floor(f*r*.98))+"px";if(f*r<min)e.classList.add("wrap")}
const clock=s=>Math.floor(s/60)+":"+String(s%60).padStart(2,"0");
function rows(list){const w=$("who"),k=JSON.stringify(list);if(w.dataset.k===k)return;w.dataset.k=k;
w.replaceChildren(...list.flatMap(r=>{const t=document.createElement("dt"),d=document.createElement("dd");t.textContent=r.label;d.textContent=r.value;return[t,d]}));w.hidden=!list.length}
function draw(){if(!m)return;if(gone&&m.state!=="signed_in")gone=0;
const s=m.expiresAt==null?null:Math.max(0,Math.ceil((m.expiresAt-Date.now()-off)/1e3)),live=!!m.userCode&&s!==0;
b.dataset.state=m.state;b.classList.toggle("code",live);document.title=m.title;
put("title",m.title);put("headline",gone?"Signing out…":m.headline);
put("url",live&&m.verificationUri||"");put("code",live?m.userCode:"");
put("left",live&&s!=null?"Expires in "+clock(s):"");
put("status",m.userCode&&!live?"Code expired; getting a new one":m.status);
rows(!gone&&m.identity||[]);
const out=!!m.canSignOut&&!gone;if(!out)shut();
$("out").hidden=!out||!!asking;$("ask").hidden=!asking;$("in").hidden=!m.canSignIn;
for(const x of b.querySelectorAll("button"))x.disabled=!!busy;
const q=$("qr"),src=live&&m.qrUrl||"";
if(q.getAttribute("src")!==src)src?q.setAttribute("src",src):q.removeAttribute("src")}
function shut(){clearTimeout(asking);asking=0}
$("out").onclick=()=>{asking=setTimeout(()=>{shut();draw()},2e4);put("q",m.accountName?"Sign out "+m.accountName+"?":"Sign out?");draw();$("no").focus()};
$("no").onclick=()=>{shut();draw();$("out").focus()};
addEventListener("keydown",e=>{if(e.key==="Escape"&&asking)$("no").click()});
async function post(path,what){shut();busy=1;put("fail","");draw();
try{const r=await fetch(path,{method:"POST",body:new URLSearchParams({csrf:tok.content})});
if(r.ok)gone=path==="/sign-out"?1:0;else put("fail","Could not "+what+" ("+r.status+")")}
catch{put("fail","Could not "+what+": no connection to the kiosk")}
busy=0;draw()}
$("yes").onclick=()=>post("/sign-out","sign out");
$("in").onclick=()=>post("/sign-in","sign in");
function down(d){$("net").hidden=!d;b.classList.toggle("off",d)}
function connect(){es=new EventSource("/events");
es.addEventListener("token",e=>tok.content=e.data);
es.onmessage=e=>{m=JSON.parse(e.data);off=m.serverTime-Date.now();if(was!==m.state)put("fail","");was=m.state;down(false);draw()};
es.onerror=()=>{down(true);if(es.readyState===2){es.close();clearTimeout(again);again=setTimeout(connect,3e3)}}}
addEventListener("resize",()=>{fit($("code"));fit($("url"))});
connect();setInterval(draw,250)})();
`;

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Served on every response: nothing loads but this page's own script and style, its QR image, its stream and its two POSTs. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${hash(SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The page with its token for POSTs (base64url, so it needs no escaping); the token is outside the hashed script. */
export const pageHtml = (token: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="csrf" content="${token}">
<title>kiosk-agent</title>
<style>${STYLE}</style></head>
<body data-state="starting">
<header><span id="title">kiosk-agent</span><span id="net" hidden>Reconnecting…</span></header>
<main><div id="qrbox" class="c"><img id="qr" alt="QR code of the sign-in address"></div>
<div id="info"><h1 id="headline" aria-live="polite">Connecting…</h1>
<p class="c l">Scan the QR code, or go to</p><p id="url" class="c"></p>
<p class="c l">and enter the code</p><p id="code" class="c"></p><p id="left" class="c"></p>
<dl id="who" aria-label="Who is signed in" hidden></dl>
<div class="acts"><button type="button" id="out" hidden>Sign out</button><button type="button" id="in" hidden>Sign in</button></div>
<div id="ask" role="alertdialog" aria-labelledby="q" hidden><p id="q">Sign out?</p>
<div class="acts"><button type="button" id="yes">Yes, sign out</button><button type="button" id="no" class="alt">Cancel</button></div></div>
<p id="fail" role="alert"></p></div></main>
<footer id="status"></footer>
<script>${SCRIPT}</script></body></html>
`;
