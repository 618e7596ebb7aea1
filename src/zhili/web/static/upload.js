// Upload progress for the steward's form: htmx reports the bytes sent; the server answers
// with the resource page (new version, or the validation report).
(function () {
  document.addEventListener("htmx:xhr:progress", function (evt) {
    var bar = document.getElementById("upload-progress");
    if (!bar || !evt.detail.lengthComputable) return;
    bar.hidden = false;
    bar.value = Math.round((evt.detail.loaded / evt.detail.total) * 100);
  });
})();
