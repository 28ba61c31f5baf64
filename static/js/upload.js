// Enhances form[data-upload]: list the chosen photos with an organ each, downscale them in the browser, show
// real upload progress, retry without re-choosing.
// base.html loads it once per document. A boosted navigation brings the form without running scripts
// (allowScriptTags is off), so the listeners sit on the document and act on the form when it is used.
(function () {
  "use strict";

  var MAX_SIDE = 2048;
  var QUALITY = 0.88;
  var uploaders = new WeakMap();
  // The address whose page is on screen: showPage draws a page without loading it.
  var shownPath = window.location.pathname;

  function downscale(file) {
    // Anything the browser cannot decode (HEIC in most browsers) goes up as chosen; the server cleans it.
    if (!window.createImageBitmap || !file.type || file.type.indexOf("image/") !== 0) {
      return Promise.resolve(file);
    }
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      if (bitmap.close) { bitmap.close(); }
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          resolve(blob ? new File([blob], (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg",
                                  { type: "image/jpeg" }) : file);
        }, "image/jpeg", QUALITY);
      });
    }).catch(function () { return file; });
  }

  // The server answered at once (a photo identified before): show its result page in place.
  function showPage(html, url) {
    var page = new DOMParser().parseFromString(html, "text/html");
    var next = page.getElementById("main");
    var main = document.getElementById("main");
    if (!next || !main) { return false; }
    main.innerHTML = next.innerHTML;
    document.title = page.title;
    window.history.pushState({ verdantUpload: true }, "", url);
    shownPath = window.location.pathname;
    if (window.htmx) { window.htmx.process(main); }
    main.focus();
    window.scrollTo(0, 0);
    return true;
  }

  // The message of the server's error fragment; a proxy's error page has none.
  function messageIn(html) {
    var said = new DOMParser().parseFromString(html || "", "text/html").querySelector(".flash-error");
    return said ? said.textContent.trim() : "Upload failed.";
  }

  function uploader(form) {
    var progressBox = form.querySelector(".upload-progress");
    var bar = form.querySelector("progress");
    var status = form.querySelector(".upload-status");
    var problem = form.querySelector(".upload-problem");
    var retry = form.querySelector(".upload-retry");
    var submit = form.querySelector("button[type=submit]");
    var photosBox = form.querySelector(".upload-photos");
    var photoList = form.querySelector(".upload-photo-list");
    // The choices that work without the script: one organ for all, then photos 2, 3... ("" = same as 1).
    // The first stays, for all the listed photos at once; the list replaces the others.
    var organChoices = form.querySelectorAll(".upload-organs select[name=organ]");
    var eachBox = form.querySelector(".upload-organ-each");
    var maxPhotos = Number(form.dataset.maxPhotos) || Infinity;
    var previews = [];
    var prepared = null;

    function busy() {
      return form.dataset.uploadState === "busy";
    }

    function chosenFiles() {
      var files = [];
      form.querySelectorAll("input[type=file]").forEach(function (input) {
        Array.prototype.forEach.call(input.files || [], function (f) { files.push(f); });
      });
      return files;
    }

    function listedOrgans() {
      return Array.prototype.map.call(photoList.querySelectorAll("select"), function (s) { return s.value; });
    }

    // One line per chosen photo, in the order they are sent (the camera's first): a preview and its own
    // organ, starting from the choices without the script and keeping what was chosen at each number.
    function listPhotos() {
      var files = chosenFiles();
      var kept = listedOrgans();
      previews.forEach(function (url) { URL.revokeObjectURL(url); });
      previews = [];
      photoList.textContent = "";
      files.forEach(function (file, i) {
        var item = document.createElement("li");
        var label = document.createElement("label");
        var preview = document.createElement("img");
        var select = organChoices[0].cloneNode(true);
        label.htmlFor = select.id = "photo-organ-" + (i + 1);
        select.removeAttribute("name");
        select.value = kept[i] || (i && organChoices[i] && organChoices[i].value) || organChoices[0].value;
        preview.alt = "";
        // A photo the browser cannot show (HEIC in most browsers) is listed by its number alone.
        preview.addEventListener("error", function () { preview.hidden = true; });
        preview.src = URL.createObjectURL(file);
        previews.push(preview.src);
        label.append(preview, "Photo " + (i + 1));
        item.append(label, select);
        photoList.append(item);
      });
      photosBox.hidden = !files.length;
      if (eachBox) { eachBox.hidden = !!files.length; }
    }

    function chooseForAll(organ) {
      photoList.querySelectorAll("select").forEach(function (select) { select.value = organ; });
    }

    // The organs to send, one per photo in the order of the photos.
    function organsFor(files) {
      if (photoList.children.length !== files.length) { listPhotos(); }
      return listedOrgans();
    }

    // The refusal the page came with (posted without the script) no longer applies.
    function forgetRefusal() {
      form.querySelectorAll(".upload-refused").forEach(function (shown) { shown.hidden = true; });
    }

    // From the first tap until the server answers: a second tap must not upload (and count) twice.
    function begin(text) {
      form.dataset.uploadState = "busy";
      submit.disabled = true;
      retry.hidden = true;
      problem.hidden = true;
      forgetRefusal();
      progressBox.hidden = false;
      bar.value = 0;
      status.textContent = text;
    }

    // canRetry: the same upload may go through later (connection, server trouble). Otherwise the
    // server refused these photos or details, so only a changed choice, submitted again, can succeed.
    function fail(message, canRetry) {
      form.dataset.uploadState = canRetry ? "failed" : "refused";
      if (!canRetry) { prepared = null; }
      forgetRefusal();
      problem.textContent = message;
      problem.hidden = false;
      progressBox.hidden = true;
      bar.value = 0;
      status.textContent = "";
      retry.hidden = !canRetry;
      submit.disabled = false;
      // The disabled button lost the focus to the page: give it to the message, whose next Tab is the retry.
      problem.focus();
    }

    function ready() {
      delete form.dataset.uploadState;
      submit.disabled = false;
      progressBox.hidden = true;
      bar.value = 0;
      status.textContent = "";
    }

    function send(body) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("HX-Request", "true");
      var token = form.querySelector("input[name=csrf_token]");
      if (token) { xhr.setRequestHeader("X-CSRFToken", token.value); }
      // The status line is a live region: it changes with each phase only, and the bar shows the percentage.
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) {
          bar.value = Math.round(event.loaded / event.total * 100);
        }
      });
      xhr.addEventListener("load", function () {
        var target = xhr.getResponseHeader("HX-Redirect");
        var answered = xhr.getResponseHeader("HX-Push-Url");
        if (xhr.status === 200 && answered && showPage(xhr.responseText, answered)) {
          return;
        }
        if (xhr.status >= 200 && xhr.status < 300 && (target || answered)) {
          bar.value = 100;
          status.textContent = "Uploaded. Identifying…";
          window.location.assign(target || answered);
        } else {
          // A 429 (too fast, or today's quota) would only be refused again: the user must wait, not retry.
          var refused = xhr.status >= 400 && xhr.status < 500 && xhr.status !== 408;
          fail(messageIn(xhr.responseText), !refused);
        }
      });
      xhr.addEventListener("error", function () {
        fail("The connection dropped. Your photos are still chosen: try again.", true);
      });
      begin("Uploading…");
      xhr.send(body);
    }

    function start() {
      if (busy()) { return; }
      var files = chosenFiles();
      if (!files.length) {
        fail("Choose a photo of your plant to identify.", false);
        return;
      }
      // Refused before preparing: the server would refuse them only after they all went up.
      if (files.length > maxPhotos) {
        fail(form.dataset.tooMany, false);
        return;
      }
      var organs = organsFor(files);
      begin("Preparing photos…");
      Promise.all(files.map(downscale)).then(function (photos) {
        var body = new FormData();
        new FormData(form).forEach(function (value, key) {
          if (!(value instanceof File) && key !== "organ") { body.append(key, value); }
        });
        organs.forEach(function (organ) { body.append("organ", organ); });
        photos.forEach(function (photo) { body.append("photo", photo, photo.name || "photo.jpg"); });
        prepared = body;
        send(body);
      });
    }

    function again() {
      if (prepared && !busy()) { send(prepared); }
    }

    return { start: start, retry: again, ready: ready, listPhotos: listPhotos, chooseForAll: chooseForAll };
  }

  function uploaderFor(form) {
    if (!uploaders.has(form)) { uploaders.set(form, uploader(form)); }
    return uploaders.get(form);
  }

  document.addEventListener("submit", function (event) {
    if (event.target.matches("form[data-upload]")) {
      event.preventDefault();
      uploaderFor(event.target).start();
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches("form[data-upload] input[type=file]")) {
      uploaderFor(event.target.closest("form")).listPhotos();
    } else if (event.target.matches("form[data-upload] #organ")) {
      uploaderFor(event.target.closest("form")).chooseForAll(event.target.value);
    }
  });

  document.addEventListener("click", function (event) {
    var retry = event.target.closest("form[data-upload] .upload-retry");
    if (retry) { uploaderFor(retry.closest("form")).retry(); }
  });

  // Back to the form from the result page: a page kept in the back-forward cache comes back as it was
  // left, its upload done but its buttons still off.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      document.querySelectorAll("form[data-upload][data-upload-state=busy]").forEach(function (form) {
        uploaderFor(form).ready();
      });
    }
  });

  function remember() {
    shownPath = window.location.pathname;
  }

  // Back or Forward to an entry htmx did not make (the page showPage drew, or the one it drew over)
  // changes only the address: load that address's page. htmx restores the entries it made itself.
  window.addEventListener("popstate", function (event) {
    if (event.state && event.state.htmx) {
      remember();
    } else if (window.location.pathname !== shownPath) {
      window.location.reload();
    }
  });
  document.addEventListener("htmx:pushedIntoHistory", remember);
  document.addEventListener("htmx:replacedInHistory", remember);
})();
