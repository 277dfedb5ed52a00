// The clock of app.js's live regions. Timers in a dedicated worker are not throttled the way a
// hidden page's own timers are (once a minute after a few minutes in the background).
setInterval(function () { postMessage(0); }, 250);
