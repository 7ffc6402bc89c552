// Tell the dashboard the browser's time zone (IANA name) so times are shown in it; the
// account's own setting, if any, still wins. Reloads once when the page used another zone.
(function () {
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone || !/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone)) return;
  var had = document.cookie.split("; ").some(function (c) { return c.indexOf("wxguard_tz=") === 0; });
  document.cookie = "wxguard_tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
  var shown = document.documentElement.getAttribute("data-zone");
  if (!had && shown && shown !== zone && document.getElementById("zone-note")) {
    window.location.reload();
  }
})();
