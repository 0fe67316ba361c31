import { createHash } from 'node:crypto';

/**
 * The kiosk page: one self-contained document (inline CSS and JS, no external assets, works
 * offline), sized for a 7-inch 800x480 screen read from two metres and scaling with the viewport.
 * It listens on `/events`, counts down by itself against the server's clock, shows a subtle
 * "Reconnecting" while the stream is down and picks up again when the agent is back. Text is only
 * ever set with textContent. The script and style are allowed by hash in the CSP, nothing else is.
 */

const STYLE = `
*{box-sizing:border-box;margin:0}
html,body{height:100%}
body{background:#000;color:#fff;font:clamp(14px,3.6vmin,44px)/1.25 system-ui,sans-serif;display:flex;flex-direction:column;padding:2.5vmin 3.5vmin;gap:2vmin;overflow:hidden}
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
#url,#code{white-space:nowrap;overflow:hidden}
#url.wrap{white-space:normal}
#left{font-size:1.3em;color:#fc4;font-variant-numeric:tabular-nums}
footer{color:#ddd;font-size:.8em;display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden}
body:not(.code) .c{display:none}
body:not(.code) main{justify-content:center;text-align:center}
body:not(.code) h1{font-size:3em}
body:not(.code) footer{font-size:1em;text-align:center;-webkit-line-clamp:4}
body[data-state=signed_in] h1{color:#6f6}
body[data-state=error] h1{color:#f77}
body.off main{opacity:.45}
`;

const SCRIPT = `"use strict";(()=>{
const $=i=>document.getElementById(i),b=document.body;let m,off=0,es,again;
const put=(i,v)=>{const e=$(i);if(e.textContent===v)return;e.textContent=v;if(i==="code"||i==="url")fit(e)};
function fit(e){e.style.fontSize="";e.classList.remove("wrap");if(!e.scrollWidth)return;
const f=parseFloat(getComputedStyle(e).fontSize),r=e.clientWidth/e.scrollWidth,min=e.id==="url"?16:24;
if(r<1)e.style.fontSize=Math.max(min,Math.floor(f*r*.98))+"px";if(f*r<min)e.classList.add("wrap")}
const clock=s=>Math.floor(s/60)+":"+String(s%60).padStart(2,"0");
function draw(){if(!m)return;
const s=m.expiresAt==null?null:Math.max(0,Math.ceil((m.expiresAt-Date.now()-off)/1e3)),live=!!m.userCode&&s!==0;
b.dataset.state=m.state;b.classList.toggle("code",live);document.title=m.title;
put("title",m.title);put("headline",m.headline);
put("url",live&&m.verificationUri||"");put("code",live?m.userCode:"");
put("left",live&&s!=null?"Expires in "+clock(s):"");
put("status",m.userCode&&!live?"Code expired; getting a new one":m.status);
const q=$("qr"),src=live&&m.qrUrl||"";
if(q.getAttribute("src")!==src)src?q.setAttribute("src",src):q.removeAttribute("src")}
function down(d){$("net").hidden=!d;b.classList.toggle("off",d)}
function connect(){es=new EventSource("/events");
es.onmessage=e=>{m=JSON.parse(e.data);off=m.serverTime-Date.now();down(false);draw()};
es.onerror=()=>{down(true);if(es.readyState===2){es.close();clearTimeout(again);again=setTimeout(connect,3e3)}}}
addEventListener("resize",()=>{fit($("code"));fit($("url"))});
connect();setInterval(draw,250)})();
`;

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Served on every response: nothing loads but this page's own script and style, its QR image and its event stream. */
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

export const PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>kiosk-agent</title>
<style>${STYLE}</style></head>
<body data-state="starting">
<header><span id="title">kiosk-agent</span><span id="net" hidden>Reconnecting…</span></header>
<main><div id="qrbox" class="c"><img id="qr" alt="QR code of the sign-in address"></div>
<div id="info"><h1 id="headline">Connecting…</h1>
<p class="c l">Scan the QR code, or go to</p><p id="url" class="c"></p>
<p class="c l">and enter the code</p><p id="code" class="c"></p><p id="left" class="c"></p></div></main>
<footer id="status"></footer>
<script>${SCRIPT}</script></body></html>
`;
